/**
 * Running one command to its end and keeping what it printed: standard output up to a cap (past it the command is
 * stopped), the tail of standard error, a timeout. The launcher's helper process runs commands with it, and this
 * process does when the helper cannot be used (see launcher.ts).
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";

export interface CommandRequest {
  file: string;
  args: readonly string[];
  /** The whole environment the command gets. */
  env?: NodeJS.ProcessEnv;
  /** Written to its standard input. */
  input?: Uint8Array | string;
  timeoutMs: number;
  /** Keep at most this many bytes of standard output; past it the command is stopped and `truncated` is set. */
  maxBytes?: number;
}

export interface CommandResult {
  stdout: Buffer;
  /** The last 8,000 characters, and a line saying so when the timeout stopped it. */
  stderr: string;
  /** Null when a signal ended it (the timeout, the cap) or it never started. */
  exitCode: number | null;
  truncated: boolean;
  /** It could not be started at all (`ENOENT`: not on PATH). */
  startError?: { code?: string; message: string };
}

/** The result of a command that never ran: what stopped it is its `startError`. */
export function notStarted(err: NodeJS.ErrnoException, stderr = ""): CommandResult {
  return { stdout: Buffer.alloc(0), stderr, exitCode: null, truncated: false, startError: { code: err.code, message: err.message } };
}

/** `stop` kills the command (SIGKILL) when it aborts. */
export function runCommand(request: CommandRequest, stop?: AbortSignal): Promise<CommandResult> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(request.file, request.args, { env: request.env, stdio: ["pipe", "pipe", "pipe"], signal: stop, killSignal: "SIGKILL" });
    } catch (err) {
      // Some arguments are refused before a process exists (a NUL byte in one, a list too long): the same answer.
      return resolve(notStarted(err as NodeJS.ErrnoException));
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let truncated = false;
    let stderr = "";
    let exited: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${request.timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, request.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      if (truncated) return;
      const max = request.maxBytes;
      if (max !== undefined && bytes + chunk.length > max) {
        chunks.push(chunk.subarray(0, max - bytes));
        bytes = max;
        truncated = true;
        child.kill("SIGKILL");
        return;
      }
      chunks.push(chunk);
      bytes += chunk.length;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-8000);
    });
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a live one's error (a failed kill): its close still comes
      clearTimeout(timer);
      resolve(notStarted(err, stderr));
    });
    // Something the command started in the background (a hook's job) can hold its output open after it ended: give
    // what is left a second, then stop waiting for it.
    child.once("exit", () => {
      exited = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, 1000);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      clearTimeout(exited);
      resolve({ stdout: Buffer.concat(chunks), stderr, exitCode: code, truncated });
    });
    child.stdin.on("error", () => {}); // the command may exit before reading all of its input
    child.stdin.end(request.input ?? "");
  });
}
