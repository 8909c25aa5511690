/**
 * The embedded database's lock file with real processes: stale locks are taken
 * over by exactly one of two racing processes, and a pid that now belongs to some
 * other live process does not block start-up.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as esbuild from "esbuild";
import { acquireDataDirLock, DataDirLockedError } from "../../src/db/lock.js";
import { repoRoot } from "../support/cli.js";

interface Taker {
  /** Resolves once the taker is loaded and spinning on the go file. */
  ready: Promise<void>;
  /** What it said after the go: won, locked, or an error. */
  said: Promise<string>;
  /** Lets a winner go and waits for the exit. */
  done(): Promise<void>;
}

/**
 * lock-taker.ts as one plain JavaScript file in `dir`: a taker then loads in tens of milliseconds rather than the
 * half second tsx takes, and the first one ready spins that much less waiting for the second.
 */
async function buildTaker(dir: string): Promise<string> {
  const outfile = path.join(dir, "lock-taker.mjs");
  await esbuild.build({
    entryPoints: [path.join(repoRoot, "test/support/lock-taker.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
  });
  return outfile;
}

/** Starts a taker (the script `takerScript`) that takes the lock of `dir` the moment `go` exists. */
function taker(takerScript: string, dir: string, go: string): Taker {
  const child = spawn(process.execPath, [takerScript, dir, go], { cwd: repoRoot });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let out = "";
  const waiters: (() => void)[] = [];
  child.stdout.on("data", (c: Buffer) => {
    out += c;
    for (const check of waiters) check();
  });
  child.stderr.on("data", (c: Buffer) => (out += c));
  /** Its n-th line, once printed whole (or all it printed, if it exited first). */
  const line = (n: number) =>
    new Promise<string>((resolve) => {
      const check = () => {
        const lines = out.split("\n");
        if (lines.length > n + 1) resolve(lines[n]!.trim());
      };
      waiters.push(check);
      void exited.then(() => resolve(out.split("\n")[n]?.trim() || out.trim()));
      check();
    });
  return {
    ready: line(0).then((said) => assert.equal(said, "ready", out)),
    said: line(1),
    async done() {
      child.stdin.end();
      await exited;
    },
  };
}

describe("the data directory lock", { timeout: 300_000 }, () => {
  let dir: string;
  let takerScript: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ct-lock-"));
    takerScript = await buildTaker(dir);
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const lockFile = () => path.join(dir, "codetether.lock");

  test("two processes taking over a stale lock at the same instant: exactly one wins, 10 times out of 10", async () => {
    for (let round = 0; round < 10; round++) {
      // A lock left by a process that is gone (a pid far above any live one).
      await writeFile(lockFile(), JSON.stringify({ pid: 4_000_000 + round, start: "1", boot: null }));
      // Both are loaded and spinning before the go file appears; they see it within microseconds of each other.
      const go = path.join(dir, `go-${round}`);
      const takers = [taker(takerScript, dir, go), taker(takerScript, dir, go)];
      await Promise.all(takers.map((t) => t.ready));
      await writeFile(go, "");
      // The winner holds the lock until both have answered, so a taker that sees the file late still meets it.
      const results = await Promise.all(takers.map((t) => t.said));
      await Promise.all(takers.map((t) => t.done()));
      assert.deepEqual([...results].sort(), ["locked", "won"], `round ${round}: ${JSON.stringify(results)}`);
    }
  });

  test("a stale lock whose pid now belongs to another live process (pid reuse) is taken over", async () => {
    // This test process is alive, but it is not the one that wrote the lock: another start time...
    await writeFile(lockFile(), JSON.stringify({ pid: process.pid === 1 ? 2 : 1, start: "0", boot: null }));
    const release = acquireDataDirLock(dir);
    assert.equal(JSON.parse(await readFile(lockFile(), "utf8")).pid, process.pid);
    release();
    // ...or another boot.
    await writeFile(lockFile(), JSON.stringify({ pid: 1, start: null, boot: "some-earlier-boot" }));
    const again = acquireDataDirLock(dir);
    again();
  });

  test("a live holder is named, and releasing only removes one's own lock", async () => {
    const release = acquireDataDirLock(dir);
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    try {
      const holder = JSON.parse(await readFile(lockFile(), "utf8"));
      // Pretend the live child holds it, with its real start time: it must be respected.
      const stat = await readFile(`/proc/${other.pid}/stat`, "utf8");
      const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
      await writeFile(lockFile(), JSON.stringify({ pid: other.pid, start, boot: holder.boot }));
      assert.throws(
        () => acquireDataDirLock(dir),
        (err: unknown) => err instanceof DataDirLockedError && err.holderPid === other.pid,
      );
      release(); // not ours any more: left alone
      assert.equal(JSON.parse(await readFile(lockFile(), "utf8")).pid, other.pid);
    } finally {
      other.kill("SIGKILL");
      await rm(lockFile(), { force: true });
    }
  });
});
