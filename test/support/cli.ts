/** Runs `codetether` as a real child process and reads its log line. */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const cliPath = path.join(repoRoot, "bin/codetether.mjs");

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  logLine: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Node flags for the commands the tests start: they live seconds, in which V8's optimizing compile of PGlite's
 * WebAssembly costs a server on the embedded database about a CPU second it never earns back (a fresh one: 5.5 s of
 * CPU to start, 4.4 s on the baseline tier). A user's long-running server keeps the optimized code.
 */
const shortLived = ["--liftoff-only"];

/** Starts `codetether serve --port 0` (of the checkout whose bin is `cli`) and resolves once it says where it listens. */
export function startCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, nodeArgs: string[] = shortLived, cli = cliPath): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, logLine: out.split("\n").find((l) => l.includes("listening on"))!, output: () => out, exited });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => {
      out += c.toString();
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`exited with ${code} before listening:\n${out}`), { output: out, code }));
    });
  });
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...shortLived, cliPath, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
