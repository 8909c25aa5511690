/** Real server and worker processes for fault tests. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { repoRoot, type ServerProcess, startCli } from "./cli.js";

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The port its own `opencode serve` uses. */
  opencodePort: number;
}

export function startWorker(args: string[], env: NodeJS.ProcessEnv, opencodePort: number): WorkerProcess {
  const child = spawn(process.execPath, [path.join(repoRoot, "bin/codetether-worker.mjs"), ...args], {
    env: { ...process.env, ...env, OPENCODE_HOST: "127.0.0.1", OPENCODE_PORT: String(opencodePort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited, opencodePort };
}

/** Kills whatever `opencode serve` listens on `port` (a SIGKILLed worker leaves its OpenCode behind). */
export function killOpencodeOn(port: number): void {
  try {
    const pids = execFileSync("pgrep", ["-f", `serve --hostname 127.0.0.1 --port ${port}`], { encoding: "utf8" });
    for (const pid of pids.split("\n").filter(Boolean)) {
      try {
        process.kill(-Number(pid), "SIGKILL");
      } catch {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
    }
  } catch {
    // none left
  }
}

export function startServerProcess(port: number, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  return startCli(["serve", "--port", String(port)], env);
}

/** Polls `check` until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
