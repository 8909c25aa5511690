/**
 * Starts git (and du) from a small helper process rather than from this one.
 *
 * Why: Node starts a child with fork(), which copies this process's page tables and marks its memory copy-on-write,
 * so every page it writes afterwards faults once more. A server on the embedded database holds 300-700 MB (PGlite's
 * memory): measured here, one spawn from such a process blocked the event loop for 24-29 ms and cost about 70 ms of
 * CPU all told, against 5-7 ms from a process of 50 MB. A run calls git a few dozen times (its worktree, diffs,
 * commits). The helper (launcher-child.ts) holds almost nothing, so its forks stay cheap; its answers come back over
 * the IPC channel.
 *
 * It is started on first use, kept out of the event loop's count while idle (then it never holds a process open), and
 * started again on the next call if it exits; calls it had in hand then fail. Where its built file is missing (the
 * sources run before a build), commands run from this process as before.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { packagePath } from "../package-root.js";
import { type CommandRequest, type CommandResult, runCommand } from "./command.js";
import type { LaunchAnswer, LaunchRequest } from "./launcher-child.js";

const childFile = packagePath("dist", "git", "launcher-child.js");
const answerSlackMs = 10_000;

interface Pending {
  resolve(result: CommandResult): void;
  reject(err: Error): void;
  /** The helper enforces the command's timeout; this one is for a helper that stopped answering at all. */
  timer: NodeJS.Timeout;
}

class Launcher {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  run(request: CommandRequest): Promise<CommandResult> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // A helper that lets a command's timeout pass by this much is stuck: it is replaced at once (the next call starts
      // another, even before this one's exit is seen).
      const timer = setTimeout(() => {
        this.settle(id, (p) => p.reject(new Error(`the launcher process did not answer within ${request.timeoutMs + answerSlackMs} ms`)));
        this.lost(child, "the launcher process was stuck, and was replaced");
      }, request.timeoutMs + answerSlackMs);
      this.pending.set(id, { resolve, reject, timer });
      this.holdOpen(child, true);
      child.send({ ...request, id } satisfies LaunchRequest, (err) => {
        if (err) this.settle(id, (p) => p.reject(new Error(`could not hand the command to the launcher process: ${err.message}`)));
      });
    });
  }

  private start(): ChildProcess {
    // A process group of its own, so that when it dies or is replaced, the commands it started go with it (lost()).
    // Without NODE_OPTIONS: an inspector or an agent loaded there is meant for the server, not for it.
    const { NODE_OPTIONS: _, ...env } = process.env;
    const child = spawn(process.execPath, [childFile], { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "advanced", detached: true, env });
    this.child = child;
    child.on("message", (answer: LaunchAnswer) => {
      const { id, ...result } = answer;
      this.settle(id, (p) => p.resolve(result));
    });
    child.once("exit", (code, signal) => this.lost(child, `the launcher process exited (${signal ?? `exit ${code}`}) while running the command`));
    // A helper that could not be started at all emits no exit (a live one's errors, a failed send, are answered where they happen).
    child.on("error", (err) => {
      if (child.pid === undefined) this.lost(child, `the launcher process could not start: ${err.message}`);
    });
    this.holdOpen(child, false);
    return child;
  }

  /** The helper is gone: what it held fails, what it started is stopped, and the next call starts another. */
  private lost(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // nothing of its group is left
      }
    }
    for (const id of [...this.pending.keys()]) this.settle(id, (p) => p.reject(new Error(why)));
  }

  private settle(id: number, how: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    how(p);
    if (this.pending.size === 0 && this.child) this.holdOpen(this.child, false);
  }

  /** While commands are in hand the helper keeps this process alive, as a child of its own would; idle, it does not. */
  private holdOpen(child: ChildProcess, busy: boolean): void {
    if (busy) {
      child.ref();
      child.channel?.ref();
    } else {
      child.unref();
      child.channel?.unref();
    }
  }
}

let launcher: Launcher | null | undefined;

/** Runs a command to its end from the launcher process (from this one where that is not built). */
export function launch(request: CommandRequest): Promise<CommandResult> {
  launcher ??= existsSync(childFile) ? new Launcher() : null;
  return launcher ? launcher.run(request) : runCommand(request);
}
