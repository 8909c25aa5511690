/**
 * Fan-out through the public protocol only: one producer uploads `output` events
 * the way `codetether-worker` does (POST …/worker/tasks/{id}/events, one upload at a
 * time, everything due since the last one in it) while N clients follow
 * GET …/codebases/{id}/events. Each event carries the time its upload was sent;
 * latency is that to the moment a client parsed it. The same clients drive, in the
 * same run, `codetether serve` on Postgres, on PGlite, and the floor: a bare
 * in-memory server (floor-server.mjs) that writes each upload to every subscriber.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { appendFile, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { cliPath, runCli, startCli } from "../test/support/cli.js";
import { createPostgresDatabase } from "../test/support/db.js";
import { leaseTask } from "../test/support/leased-task.js";
import { cpuMs, median, percentile, summary } from "./stats.js";

interface Target {
  name: string;
  start(): Promise<{ url: string; pid: number; stop(): Promise<void> }>;
}

export interface Scenario {
  subscribers: number;
  eventsPerSecond: number;
}

export interface FanoutResult {
  target: string;
  scenario: string;
  p50: number;
  p99: number;
  delivered: number;
  lost: number;
  rssMb: number;
}

const padding = "x".repeat(120);
const measureMs = 5000;
const warmMs = 1000;

/** Peak resident memory of a process so far (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** A lean SSE follower: counts ids, checks they are contiguous, records latency from the `t=` each event carries. */
function follow(url: string, latencies: number[], since: () => number): Promise<{ received: () => number; broken: () => number; close(): void }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let broken = 0;
    let last = -1;
    let buffer = "";
    const req = http.get(url, { agent: false, headers: { accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`follow: ${res.statusCode}`));
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const now = performance.now();
        buffer += chunk;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
          const idAt = message.indexOf("\nid: ");
          if (idAt < 0) continue;
          const id = Number(message.slice(idAt + 5, message.indexOf("\n", idAt + 5)));
          if (last >= 0 && id !== last + 1) broken++;
          last = id;
          received++;
          const t = /t=([\d.]+) /.exec(message);
          if (t && Number(t[1]) >= since()) latencies.push(now - Number(t[1]));
        }
      });
      resolve({ received: () => received, broken: () => broken, close: () => req.destroy() });
    });
    req.on("error", () => {});
  });
}

async function runScenario(base: string, pid: number, scenario: Scenario, name: string): Promise<Omit<FanoutResult, "target" | "scenario">> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-fanout-"));
  try {
    const task = await leaseTask(base, { name, path: tmp });
    const url = `${base}/v1/opencode/codebases/${task.codebaseId}/events`;
    const latencies: number[] = [];
    let measureFrom = Number.POSITIVE_INFINITY;
    const followers = [];
    for (let i = 0; i < scenario.subscribers; i += 50) {
      followers.push(...(await Promise.all(Array.from({ length: Math.min(50, scenario.subscribers - i) }, () => follow(url, latencies, () => measureFrom)))));
    }
    await new Promise((r) => setTimeout(r, 300));
    const start = performance.now();
    measureFrom = start + warmMs;
    let made = 0;
    while (performance.now() - start < warmMs + measureMs) {
      const due = Math.floor(((performance.now() - start) / 1000) * scenario.eventsPerSecond) - made;
      if (due <= 0) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const n = Math.min(due, 100);
      const sent = performance.now().toFixed(3);
      await task.upload(
        Array.from({ length: n }, (_, i) => ({
          type: "output",
          data: { session_id: `ses_${name}`, message_id: "m", part_id: "p", content: `t=${sent} n=${made + i} ${padding}` },
        })),
      );
      made += n;
    }
    const deadline = Date.now() + 30_000;
    while (followers.some((f) => f.received() < made) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lost = followers.reduce((sum, f) => sum + Math.max(0, made - f.received()) + f.broken(), 0);
    const rssMb = peakRssMb(pid);
    for (const f of followers) f.close();
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), delivered: latencies.length, lost, rssMb };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The most events `codetether-worker`'s outbox puts in one upload. */
const throughputBatch = 200;

/** One stream's rate, and what each of its uploads cost the server's process and Postgres (all of its processes). */
export interface Throughput {
  eventsPerSecond: number;
  serverCpuMs: number;
  postgresCpuMs: number;
}

/**
 * One follower, one producer uploading full batches back to back: events stored and delivered per second, and the
 * CPU each upload of `throughputBatch` took the server (`pid`) and Postgres, from /proc (where a target's time goes).
 */
async function runThroughput(base: string, pid: number, name: string): Promise<Throughput> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-fanout-"));
  try {
    const task = await leaseTask(base, { name, path: tmp });
    const follower = await follow(`${base}/v1/opencode/codebases/${task.codebaseId}/events`, [], () => Number.POSITIVE_INFINITY);
    await new Promise((r) => setTimeout(r, 200));
    const cpu = { server: await cpuMs(pid), postgres: await cpuMs("postgres") };
    const start = performance.now();
    let made = 0;
    while (performance.now() - start < 3000) {
      await task.upload(
        Array.from({ length: throughputBatch }, (_, i) => ({
          type: "output",
          data: { session_id: `ses_${name}`, message_id: "m", part_id: "p", content: `t=0 n=${made + i} ${padding}` },
        })),
      );
      made += throughputBatch;
    }
    while (follower.received() < made) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - start) / 1000;
    const uploads = made / throughputBatch;
    const used = { server: (await cpuMs(pid)) - cpu.server, postgres: (await cpuMs("postgres")) - cpu.postgres };
    follower.close();
    return { eventsPerSecond: made / seconds, serverCpuMs: used.server / uploads, postgresCpuMs: used.postgres / uploads };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * An embedded database made by another process first (`codetether keys list` creates it and exits): a server's
 * first start on an empty directory runs initdb, whose half a gigabyte of WebAssembly heap would otherwise be the
 * peak RSS measured, not the fan-out's. The server then starts on existing data, as it does every start but the first.
 */
async function embeddedDataDir(): Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ct-fanout-data-"));
  const env = { DATABASE_URL: "", CODETETHER_DATA_DIR: dir };
  const made = await runCli(["keys", "list"], env);
  if (made.code !== 0) throw new Error(`making the embedded database failed: ${made.stderr}`);
  return { env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function serverTarget(
  name: string,
  env: () => Promise<{ env: NodeJS.ProcessEnv; cleanup(): Promise<void> }>,
  nodeArgs: string[] = [],
  cli: string = cliPath,
): Target {
  return {
    name,
    async start() {
      const made = await env();
      const server = await startCli(
        ["serve", "--port", "0"],
        {
          OPENCODE_AUTO_START: "false",
          OPENCODE_PORT: "9",
          CODETETHER_LOCAL_CONCURRENCY: "0",
          CODETETHER_MAX_CONNECTIONS: "5000",
          CODETETHER_MAX_STREAMS: "4000",
          CODETETHER_API_KEY: "",
          CODETETHER_WORKER_TOKEN: "",
          ...made.env,
        },
        60_000,
        nodeArgs,
        cli,
      );
      return {
        url: server.url,
        pid: server.child.pid!,
        stop: async () => {
          server.child.kill("SIGTERM");
          await server.exited;
          // BENCH_SERVER_LOG=<file>: each server's log, to read as an operator would (LOG_LEVEL=info logs every request).
          if (process.env.BENCH_SERVER_LOG) await appendFile(process.env.BENCH_SERVER_LOG, `--- ${name}\n${server.output()}`);
          await made.cleanup();
        },
      };
    },
  };
}

/** The bare floor server: in memory, or (with a database URL) storing each upload in one statement first. */
function floorTarget(databaseUrl?: string): Target {
  return {
    name: databaseUrl ? "floor (durable, Postgres)" : "floor (in-memory)",
    async start() {
      const db = databaseUrl ? await createPostgresDatabase(databaseUrl) : undefined;
      const running = await spawnFloor(db?.url);
      return {
        ...running,
        stop: async () => {
          await running.stop();
          await db?.drop();
        },
      };
    },
  };
}

function spawnFloor(databaseUrl: string | undefined): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [path.join(import.meta.dirname, "floor-server.mjs")], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, FLOOR_DATABASE_URL: databaseUrl ?? "" },
    });
    child.stdout!.once("data", (chunk: Buffer) => {
      const url = /listening on (http:\/\/\S+)/.exec(chunk.toString())?.[1];
      if (!url) return reject(new Error(`floor server said: ${chunk}`));
      resolve({
        url,
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

export const fanoutScenarios: Scenario[] = [
  { subscribers: 1, eventsPerSecond: 1000 },
  { subscribers: 20, eventsPerSecond: 100 },
  { subscribers: 100, eventsPerSecond: 100 },
  { subscribers: 100, eventsPerSecond: 1000 },
  { subscribers: 1000, eventsPerSecond: 10 },
];

/**
 * One scenario against `codetether serve` (on the Postgres of `databaseUrl`, else PGlite), with node flags for the
 * server (e.g. --cpu-prof to profile it); `cli`: another checkout's bin, to compare before and after.
 */
export async function benchFanoutOne(scenario: Scenario, nodeArgs: string[] = [], databaseUrl?: string, cli = cliPath): Promise<FanoutResult> {
  const result = await withTarget(databaseUrl, { nodeArgs, cli }, (url, pid) => runScenario(url, pid, scenario, "fan-one"));
  const target = databaseUrl ? "codetether, Postgres" : "codetether, PGlite";
  return { target, scenario: `${scenario.subscribers} × ${scenario.eventsPerSecond}/s`, ...result };
}

/** Which target `withTarget` starts: our server with node flags (`nodeArgs`) or another checkout's bin (`cli`), or the floor. */
export interface TargetOptions {
  nodeArgs?: string[];
  cli?: string;
  floor?: boolean;
}

/**
 * `run` against one target, started for it and stopped after: `codetether serve` on the Postgres of `databaseUrl`
 * (else PGlite) with node flags for the server (e.g. --cpu-prof) and another checkout's bin (`cli`), or the floor
 * (`floor: true`; durable with a database URL). For profiles and before/after comparisons of one figure.
 */
export async function withTarget<T>(
  databaseUrl: string | undefined,
  { nodeArgs = [], cli = cliPath, floor = false }: TargetOptions,
  run: (url: string, pid: number) => Promise<T>,
): Promise<T> {
  const target = floor
    ? floorTarget(databaseUrl)
    : databaseUrl
      ? serverTarget("codetether, Postgres", postgresData(databaseUrl), nodeArgs, cli)
      : serverTarget("codetether, PGlite", embeddedDataDir, nodeArgs, cli);
  const running = await target.start();
  try {
    return await run(running.url, running.pid);
  } finally {
    await running.stop();
  }
}

/** One stream's throughput (uploads of 200 back to back, one follower) against one target (see `withTarget`). */
export const benchThroughputOne = (databaseUrl: string | undefined, options: TargetOptions = {}) =>
  withTarget(databaseUrl, options, (url, pid) => runThroughput(url, pid, "tp-one"));

/**
 * The round trip of an upload of one event, sent one after another with nothing else running (median and p99 of
 * 1,000 after 200 to warm up): what an upload costs a target beyond the network, and so what each upload adds to
 * the fan-out's latency; with the CPU each upload takes the server and Postgres, and the server's CPU for a request
 * whose handler does next to nothing (the HTTP stack's and middleware's share).
 */
export const benchUploadRoundTrip = (databaseUrl: string | undefined, options: TargetOptions = {}) =>
  withTarget(databaseUrl, options, async (url, pid) => {
    const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-fanout-"));
    try {
      const task = await leaseTask(url, { name: "rt-one", path: tmp });
      const times: number[] = [];
      let cpu = { server: 0, postgres: 0 };
      for (let i = 0; i < 1200; i++) {
        if (i === 200) cpu = { server: await cpuMs(pid), postgres: await cpuMs("postgres") };
        const t = performance.now();
        await task.upload([{ type: "output", data: { session_id: "ses_rt", message_id: "m", part_id: "p", content: `n=${i} ${padding}` } }]);
        if (i >= 200) times.push(performance.now() - t);
      }
      task.stop();
      const { median: p50, p99 } = summary(times);
      // CPU per upload: the server's process, and every Postgres process (the database's share).
      const serverCpuMs = ((await cpuMs(pid)) - cpu.server) / times.length;
      const postgresCpuMs = ((await cpuMs("postgres")) - cpu.postgres) / times.length;
      // What a request costs the server's HTTP stack and middleware when its handler does next to nothing (ours
      // answers /health from memory and logs it at debug; the floor answers 404 and logs nothing).
      const before = await cpuMs(pid);
      for (let i = 0; i < 1000; i++) await (await fetch(`${url}/health`)).text();
      return { p50, p99, serverCpuMs, postgresCpuMs, requestCpuMs: ((await cpuMs(pid)) - before) / 1000 };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

/** A new database on the Postgres of `databaseUrl` for a server to run on, dropped after. */
const postgresData = (databaseUrl: string) => async () => {
  const db = await createPostgresDatabase(databaseUrl);
  return { env: { DATABASE_URL: db.url }, cleanup: db.drop };
};

/**
 * Every scenario against every target, `rounds` times (the targets' order rotating
 * each round); answers each figure's median over the rounds, plus the one-stream throughput.
 * `before`: another checkout, whose server runs beside this one's (before against after).
 */
export async function benchFanout(
  databaseUrl: string | undefined,
  rounds = 3,
  before?: string,
): Promise<{ results: FanoutResult[]; throughput: Record<string, Throughput> }> {
  const targets: Target[] = [floorTarget()];
  const checkouts: [string, string][] = [
    ["codetether", cliPath],
    ...(before ? [["codetether before", path.join(before, "bin/codetether.mjs")] as [string, string]] : []),
  ];
  if (databaseUrl) targets.push(floorTarget(databaseUrl));
  for (const [label, cli] of checkouts) {
    if (databaseUrl) targets.push(serverTarget(`${label}, Postgres`, postgresData(databaseUrl), [], cli));
    targets.push(serverTarget(`${label}, PGlite`, embeddedDataDir, [], cli));
  }
  const samples = new Map<string, Omit<FanoutResult, "target" | "scenario">[]>();
  const throughputs = new Map<string, Throughput[]>();
  for (let round = 0; round < rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const target of order) {
      const running = await target.start();
      try {
        for (const [i, scenario] of fanoutScenarios.entries()) {
          const label = `${scenario.subscribers} × ${scenario.eventsPerSecond.toLocaleString("en")}/s`;
          const result = await runScenario(running.url, running.pid, scenario, `fan-${round}-${i}`);
          process.stderr.write(
            `  round ${round + 1} ${target.name} ${label}: p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, lost ${result.lost}, RSS ${result.rssMb.toFixed(0)} MB\n`,
          );
          const key = `${target.name}|${label}`;
          samples.set(key, [...(samples.get(key) ?? []), result]);
        }
        const one = await runThroughput(running.url, running.pid, `fan-${round}-tp`);
        process.stderr.write(
          `  round ${round + 1} ${target.name} one stream: ${one.eventsPerSecond.toFixed(0)} events/s, CPU per upload: server ${one.serverCpuMs.toFixed(2)} ms, Postgres ${one.postgresCpuMs.toFixed(2)} ms\n`,
        );
        throughputs.set(target.name, [...(throughputs.get(target.name) ?? []), one]);
      } finally {
        await running.stop();
      }
    }
  }
  const results = [...samples].map(([key, runs]) => {
    const [target, scenario] = key.split("|") as [string, string];
    return {
      target,
      scenario,
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      delivered: median(runs.map((r) => r.delivered)),
      lost: Math.max(...runs.map((r) => r.lost)),
      rssMb: median(runs.map((r) => r.rssMb)),
    };
  });
  const throughput = [...throughputs].map(([target, runs]): [string, Throughput] => [
    target,
    {
      eventsPerSecond: median(runs.map((r) => r.eventsPerSecond)),
      serverCpuMs: median(runs.map((r) => r.serverCpuMs)),
      postgresCpuMs: median(runs.map((r) => r.postgresCpuMs)),
    },
  ]);
  return { results, throughput: Object.fromEntries(throughput) };
}
