/**
 * `npm run bench`: every benchmark, printed as a Markdown table for the README.
 * Uses the real Postgres of DATABASE_URL when set, PGlite always.
 */
import os from "node:os";
import path from "node:path";
import { pgliteDriver, postgresDriver } from "../test/support/db.js";
import { benchBridge } from "./bridge.js";
import { benchDashboard } from "./dashboard.js";
import { benchEventStream } from "./event-stream.js";
import { benchFanout, benchUploadRoundTrip, type FanoutResult, type TargetOptions } from "./fanout.js";
import { benchGitLaunch } from "./git-launch.js";
import { benchClaimLatency, benchDeepClaim, benchFailover, benchQueueThroughput } from "./queue.js";
import { benchStatementCpu, type StatementCpu } from "./queue-statements.js";
import { benchStartup } from "./startup.js";
import { median } from "./stats.js";
import { benchUsage } from "./usage.js";
import { benchWorktrees } from "./worktrees.js";

const only = process.argv[2];
const rows: [string, string][] = [];
const url = process.env.DATABASE_URL?.trim();
/** Another checkout (built: `npm ci`, or `node scripts/build-server.mjs` with node_modules), whose server the queue and fan-out benchmarks run beside this one's: before against after in one run. */
const before = process.env.BENCH_BEFORE?.trim() || undefined;

if (!only || only === "events") {
  // Rounds alternating (with BENCH_BEFORE, each checkout in turn), medians reported.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  for (const driver of url ? [pgliteDriver, postgresDriver(url)] : [pgliteDriver]) {
    const name = driver.name === "pglite" ? "PGlite" : "Postgres";
    const runs: Record<string, { stored: number; delivered: number }[]> = { after: [], before: [] };
    for (let round = 0; round < rounds; round++) {
      runs.after!.push(await benchEventStream(driver));
      if (before) runs.before!.push(await benchEventStream(driver, 20_000, before));
    }
    const med = (list: { stored: number; delivered: number }[], k: "stored" | "delivered") => median(list.map((r) => r[k]));
    const line = (list: { stored: number; delivered: number }[]) =>
      `${fmt(med(list, "stored"))} events/s stored, ${fmt(med(list, "delivered"))} events/s stored and delivered over SSE (20,000 events; medians of ${rounds} runs)`;
    rows.push([`one event stream, ${name}`, line(runs.after!)]);
    if (before)
      rows.push([
        `… before (${before}), ${name}`,
        `${line(runs.before!)}; after / before, delivered: ${(med(runs.after!, "delivered") / med(runs.before!, "delivered")).toFixed(2)}×`,
      ]);
  }
}
if (!only || only === "startup") {
  for (const [k, v] of Object.entries(await benchStartup(url))) rows.push([k, v]);
}
if (!only || only === "bridge") {
  for (const [k, v] of Object.entries(await benchBridge(url, before))) rows.push([k, v]);
}

if (!only || only === "dashboard") {
  for (const [k, v] of Object.entries(await benchDashboard())) rows.push([k, v]);
}

if (!only || only === "queue") {
  const drivers = url ? [postgresDriver(url), pgliteDriver] : [pgliteDriver];
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  // Side by side in one run, 16 workers, `rounds` rounds (medians): the floors (in memory; durable, one statement per
  // call on Postgres), then each database one task per call and batched (16 per create, claim and completion call).
  type Case = { label: string; target: Parameters<typeof benchQueueThroughput>[0]; batch: number };
  const cases: Case[] = [{ label: "in-memory floor", target: { kind: "floor" }, batch: 1 }];
  if (url) {
    cases.push({ label: "durable floor (Postgres)", target: { kind: "floor", databaseUrl: url }, batch: 1 });
    cases.push({ label: "durable floor (Postgres), batched", target: { kind: "floor", databaseUrl: url }, batch: 16 });
  }
  for (const driver of drivers) {
    const name = driver.name === "pglite" ? "PGlite" : "Postgres";
    cases.push({ label: `${name}, one task per call`, target: { kind: "server", driver }, batch: 1 });
    cases.push({ label: `${name}, 16 tasks per call`, target: { kind: "server", driver }, batch: 16 });
    if (before) {
      cases.push({ label: `${name}, one task per call (before)`, target: { kind: "server", driver, root: before }, batch: 1 });
      cases.push({ label: `${name}, 16 tasks per call (before)`, target: { kind: "server", driver, root: before }, batch: 16 });
    }
  }
  const rates = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const rate = await benchQueueThroughput(c.target, 16, { batch: c.batch });
      process.stderr.write(`  round ${round + 1} queue ${c.label}: ${rate.toFixed(0)} tasks/s\n`);
      rates.set(c.label, [...(rates.get(c.label) ?? []), rate]);
    }
  }
  const med = (label: string) => median(rates.get(label) ?? [0]);
  const memory = med("in-memory floor");
  const durable = url ? med("durable floor (Postgres)") : undefined;
  rows.push([`tasks through create → claim → complete, 16 workers, in-memory floor server (median of ${rounds})`, `${fmt(memory)} tasks/s`]);
  if (durable !== undefined) {
    rows.push(["… durable floor: one autocommit statement per create, claim and complete on Postgres", `${fmt(durable)} tasks/s`]);
    rows.push(["… durable floor, 16 per create, claims and completions call", `${fmt(med("durable floor (Postgres), batched"))} tasks/s`]);
  }
  for (const driver of drivers) {
    const name = driver.name === "pglite" ? "PGlite" : "Postgres";
    const single = med(`${name}, one task per call`);
    const batched = med(`${name}, 16 tasks per call`);
    const ofDurable = durable ? `, ${(single / durable).toFixed(2)} of the durable floor` : "";
    rows.push([`… CodeTether on ${name}, one task per call`, `${fmt(single)} tasks/s (${(single / memory).toFixed(2)} of the in-memory floor${ofDurable})`]);
    rows.push([
      `… CodeTether on ${name}, 16 per create, claims and completions call`,
      `${fmt(batched)} tasks/s (${(batched / single).toFixed(1)}× one per call)`,
    ]);
    if (before) {
      const singleBefore = med(`${name}, one task per call (before)`);
      const batchedBefore = med(`${name}, 16 tasks per call (before)`);
      rows.push([`… before (${before}), ${name}, one task per call`, `${fmt(singleBefore)} tasks/s (after / before: ${(single / singleBefore).toFixed(2)}×)`]);
      rows.push([`… before (${before}), ${name}, 16 per call`, `${fmt(batchedBefore)} tasks/s (after / before: ${(batched / batchedBefore).toFixed(2)}×)`]);
    }
  }
  if (url) {
    // Postgres CPU per call apart from contention, each kind of call in a block of its own: rounds alternating.
    const targets = [
      ["CodeTether", { kind: "server" }],
      ["durable floor", { kind: "floor" }],
      ...(before ? [[`before (${before})`, { kind: "server", root: before }]] : []),
    ] as [string, Parameters<typeof benchStatementCpu>[1]][];
    const costs = new Map<string, StatementCpu[]>();
    for (let round = 0; round < rounds; round++)
      for (const [label, target] of targets) costs.set(label, [...(costs.get(label) ?? []), await benchStatementCpu(url, target)]);
    for (const [label, list] of costs) {
      const of = (k: keyof StatementCpu) => median(list.map((c) => c[k])).toFixed(2);
      rows.push([
        `Postgres CPU per call, 1,500 of each one after another, ${label} (median of ${rounds})`,
        `create ${of("create")} ms, claim ${of("claim")} ms, complete ${of("complete")} ms`,
      ]);
    }
    const checkouts = [["", undefined], ...(before ? [[` (before, ${before})`, before]] : [])] as [string, string | undefined][];
    for (const [queue, what] of [
      ["own", "a claim with 50,000 tasks pending, Postgres, 40 claims one after another"],
      ["another", "a claim by a worker with nothing to take while another worker's codebase has 50,000 pending, Postgres, 40 claims"],
    ] as const) {
      // Rounds, each checkout first in turn (the first of a round ran slower, after the last round's 50,000-task
      // database was dropped), medians of the rounds' figures.
      const claims = new Map<string, { median: number; p99: number }[]>();
      for (let round = 0; round < rounds; round++)
        for (const [label, root] of round % 2 === 0 ? checkouts : [...checkouts].reverse())
          claims.set(label, [...(claims.get(label) ?? []), await benchDeepClaim(url, { queue, root })]);
      for (const [label] of checkouts) {
        const of = (k: "median" | "p99") => median(claims.get(label)!.map((c) => c[k])).toFixed(1);
        rows.push([`${what}${label} (medians of ${rounds} rounds)`, `median ${of("median")} ms, p99 ${of("p99")} ms`]);
      }
    }
    const latency = await benchClaimLatency();
    rows.push([
      "enqueue → claimed by an idle real codetether-worker (long poll), 20 tasks",
      `median ${latency.median.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, max ${latency.max.toFixed(1)} ms`,
    ]);
    for (const lease of [15, 3]) rows.push([`worker SIGKILLed → its task running on another worker, lease ${lease} s`, await benchFailover(lease)]);
  }
}

if (!only || only === "worktrees") {
  for (const [k, v] of Object.entries(await benchWorktrees())) rows.push([k, v]);
}

if (!only || only === "git") {
  for (const [k, v] of Object.entries(await benchGitLaunch())) rows.push([k, v]);
}

if ((!only || only === "usage") && url) {
  for (const [k, v] of Object.entries(await benchUsage(url, Number(process.env.BENCH_USAGE_EVENTS ?? 1_000_000)))) rows.push([k, v]);
}

const fanoutTable: string[] = [];
if (!only || only === "fanout") {
  const { results, throughput } = await benchFanout(url, Number(process.env.BENCH_ROUNDS ?? 3), before);
  const floor = (scenario: string, kind: string) => results.find((r) => r.scenario === scenario && r.target.startsWith(kind));
  fanoutTable.push(
    "| subscribers × events/s | server | p50 | p99 | p50, p99 / durable floor | p50, p99 / in-memory floor | lost | server peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  const ratio = (r: FanoutResult, f: FanoutResult | undefined) => (f ? `${(r.p50 / f.p50).toFixed(2)}×, ${(r.p99 / f.p99).toFixed(2)}×` : "—");
  for (const r of results) {
    fanoutTable.push(
      `| ${r.scenario} | ${r.target} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${ratio(r, floor(r.scenario, "floor (durable"))} | ${ratio(r, floor(r.scenario, "floor (in-memory"))} | ${r.lost} | ${r.rssMb.toFixed(0)} MB |`,
    );
  }
  // With the CPU each upload of 200 took the server and Postgres (on PGlite the database is in the server's process).
  for (const [target, one] of Object.entries(throughput))
    rows.push([
      `one follower, one stream, uploads of 200: events stored and delivered per second; CPU per upload of the server / of Postgres, ${target}`,
      `${one.eventsPerSecond.toFixed(0)}; ${one.serverCpuMs.toFixed(2)} / ${one.postgresCpuMs.toFixed(2)} ms`,
    ]);
  if (url) {
    // What one upload costs, apart from the fan-out: its round trip and the CPU it takes the server and Postgres,
    // ours beside the durable floor (and `before`), round by round, medians.
    const targets: [string, TargetOptions][] = [
      ["durable floor", { floor: true }],
      ["codetether", {}],
    ];
    if (before) targets.push([`before (${before})`, { cli: path.join(before, "bin/codetether.mjs") }]);
    const runs = new Map<string, Awaited<ReturnType<typeof benchUploadRoundTrip>>[]>();
    for (let round = 0; round < Number(process.env.BENCH_ROUNDS ?? 3); round++)
      for (const [label, options] of targets) runs.set(label, [...(runs.get(label) ?? []), await benchUploadRoundTrip(url, options)]);
    for (const [label, list] of runs) {
      const of = (k: "p50" | "p99" | "serverCpuMs" | "postgresCpuMs" | "requestCpuMs") => median(list.map((r) => r[k])).toFixed(2);
      rows.push([
        `an upload of one event, one after another, Postgres: round trip p50 / p99; CPU per upload of the server / of Postgres; server CPU of a GET /health, ${label}`,
        `${of("p50")} / ${of("p99")} ms; ${of("serverCpuMs")} / ${of("postgresCpuMs")} ms; ${of("requestCpuMs")} ms`,
      ]);
    }
  }
}

console.log(`\n${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}\n`);
console.log("| figure | result |\n| --- | --- |");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
if (fanoutTable.length > 0) console.log(`\n${fanoutTable.join("\n")}`);
process.exit(0);
