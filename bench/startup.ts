/**
 * Start-up and idle memory of the command lines, as a user runs them (`bin/`, the
 * compiled dist/): `codetether --version`, `codetether-worker --help`, and
 * `codetether serve` until GET /health answers, on Postgres and on the embedded
 * database with existing data, then its resident memory once idle; and the first start on a new data directory
 * (the seed written, the migrations run), with its peak and idle memory.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { freePort } from "../src/opencode/process.js";
import { repoRoot } from "../test/support/cli.js";
import { createPostgresDatabase } from "../test/support/db.js";
import { summary } from "./stats.js";

const quiet = { OPENCODE_AUTO_START: "false", OPENCODE_PORT: "9", LOG_LEVEL: "warn", CODETETHER_API_KEY: "", CODETETHER_LOCAL_CONCURRENCY: "0" };

function runToExit(bin: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [path.join(repoRoot, bin), ...args], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", () => resolve(performance.now() - start));
  });
}

/** A field of /proc/<pid>/status in MB: VmRSS (resident now) or VmHWM (the most it was). */
const statusMb = (pid: number, field: "VmRSS" | "VmHWM") =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

/** Starts `codetether serve`, times until /health answers 200, reads its RSS after `idleMs`, stops it. */
async function serveOnce(env: NodeJS.ProcessEnv, idleMs: number): Promise<{ healthMs: number; rssMb: number; peakMb: number }> {
  const port = await freePort();
  const start = performance.now();
  const child = spawn(process.execPath, [path.join(repoRoot, "bin/codetether.mjs"), "serve", "--port", String(port)], {
    env: { ...process.env, ...quiet, ...env },
    stdio: "ignore",
  });
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
      if (performance.now() - start > 60_000) throw new Error("no /health within 60 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    const healthMs = performance.now() - start;
    await new Promise((r) => setTimeout(r, idleMs));
    return { healthMs, rssMb: statusMb(child.pid!, "VmRSS"), peakMb: statusMb(child.pid!, "VmHWM") };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

export async function benchStartup(databaseUrl: string | undefined, runs = 7): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ms = (values: number[]) => {
    const s = summary(values);
    return `median ${s.median.toFixed(0)} ms (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)}, ${s.n} runs)`;
  };
  const versions: number[] = [];
  const helps: number[] = [];
  for (let i = 0; i < runs; i++) {
    versions.push(await runToExit("bin/codetether.mjs", ["--version"]));
    helps.push(await runToExit("bin/codetether-worker.mjs", ["--help"]));
  }
  out["codetether --version"] = ms(versions);
  out["codetether-worker --help"] = ms(helps);

  const dataDir = await mkdtemp(path.join(os.tmpdir(), "ct-startup-"));
  try {
    await serveOnce({ DATABASE_URL: "", CODETETHER_DATA_DIR: dataDir }, 0); // creates and migrates the database
    const embedded = [];
    for (let i = 0; i < runs; i++) embedded.push(await serveOnce({ DATABASE_URL: "", CODETETHER_DATA_DIR: dataDir }, i === 0 ? 3000 : 0));
    out["codetether serve → /health, embedded PGlite with existing data"] = ms(embedded.map((r) => r.healthMs));
    out["codetether serve idle RSS, embedded PGlite"] = `${embedded[0]!.rssMb.toFixed(0)} MB`;
    const firsts = [];
    for (let i = 0; i < runs; i++) firsts.push(await serveOnce({ DATABASE_URL: "", CODETETHER_DATA_DIR: path.join(dataDir, `new-${i}`) }, 3000));
    out["codetether serve → /health, embedded PGlite, first start on a new directory"] = ms(firsts.map((r) => r.healthMs));
    const mb = (values: number[]) => `median ${summary(values).median.toFixed(0)} MB`;
    out["… its peak RSS, and RSS 3 s after /health"] = `${mb(firsts.map((r) => r.peakMb))}; ${mb(firsts.map((r) => r.rssMb))}`;
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  if (databaseUrl) {
    const db = await createPostgresDatabase(databaseUrl);
    try {
      await serveOnce({ DATABASE_URL: db.url }, 0); // migrates
      const pg = [];
      for (let i = 0; i < runs; i++) pg.push(await serveOnce({ DATABASE_URL: db.url }, i === 0 ? 3000 : 0));
      out["codetether serve → /health, Postgres"] = ms(pg.map((r) => r.healthMs));
      out["codetether serve idle RSS, Postgres"] = `${pg[0]!.rssMb.toFixed(0)} MB`;
    } finally {
      await db.drop();
    }
  }
  return out;
}
