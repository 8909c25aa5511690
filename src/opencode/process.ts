/**
 * Starting and stopping a real `opencode serve`. It runs in its own process
 * group (so the agent's bash children go with it), never through a shell, and is
 * only talked to after it printed its "listening" line: a request sent to the
 * port before that can hang forever.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

export interface OpencodeServerProcess {
  url: string;
  pid: number;
  /** SIGTERM to the process group, then SIGKILL after 5 s. */
  stop(): Promise<void>;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

export interface StartOpencodeOptions {
  binary: string;
  hostname?: string;
  /** 0 picks a free port first (OpenCode's own `--port 0` tries 4096 before anything else). */
  port?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
  onExit?: (code: number | null, signal: string | null) => void;
}

/** A port nothing listens on right now. */
export function freePort(hostname = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, hostname, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

export async function startOpencodeServer(options: StartOpencodeOptions): Promise<OpencodeServerProcess> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port || (await freePort(hostname));
  const child = spawn(options.binary, ["serve", "--hostname", hostname, "--port", String(port)], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  let stdout = "";
  let stderrTail = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child, "SIGKILL");
      reject(new Error(`opencode serve did not start within ${options.startTimeoutMs ?? 30_000} ms: ${stderrTail.trim().slice(-500)}`));
    }, options.startTimeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-4000);
      const match = /opencode server listening on (https?:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.stdout!.resume(); // keep draining so a full pipe never blocks it
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${options.binary}: ${err.message}`));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`opencode serve exited (code ${code}, signal ${signal}) before listening: ${stderrTail.trim().slice(-500)}`));
    });
  });
  void exited.then(({ code, signal }) => options.onExit?.(code, signal));

  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: child.pid!,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        killGroup(child, "SIGTERM");
        const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
        killGroup(child, "SIGKILL"); // leftovers of the group (e.g. bash tool children)
      })()),
  };
}
