/**
 * `npm run bench`: every benchmark, printed as a Markdown table for the README.
 * Uses the real Postgres of DATABASE_URL when set, PGlite always.
 */
import os from "node:os";
import { pgliteDriver, postgresDriver } from "../test/support/db.js";
import { benchBridge } from "./bridge.js";
import { benchDashboard } from "./dashboard.js";
import { benchEventStream } from "./event-stream.js";
import { benchFanout } from "./fanout.js";
import { benchClaimLatency, benchFailover, benchQueueThroughput } from "./queue.js";
import { benchStartup } from "./startup.js";
import { benchUsage } from "./usage.js";
import { benchWorktrees } from "./worktrees.js";

const only = process.argv[2];
const rows: [string, string][] = [];
const url = process.env.DATABASE_URL?.trim();

if (!only || only === "events") {
  rows.push(["one event stream, PGlite", await benchEventStream(pgliteDriver)]);
  if (url) rows.push(["one event stream, Postgres", await benchEventStream(postgresDriver(url))]);
}
if (!only || only === "startup") {
  for (const [k, v] of Object.entries(await benchStartup(url))) rows.push([k, v]);
}
if (!only || only === "bridge") {
  for (const [k, v] of Object.entries(await benchBridge())) rows.push([k, v]);
}

if (!only || only === "dashboard") {
  for (const [k, v] of Object.entries(await benchDashboard())) rows.push([k, v]);
}

if (!only || only === "queue") {
  const drivers = url ? [postgresDriver(url), pgliteDriver] : [pgliteDriver];
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  // Side by side in one run, 16 workers: the in-memory floor, then each database one task per call and batched (16 per call).
  const floor = await benchQueueThroughput({ kind: "floor" }, 16);
  rows.push(["tasks through create → claim → complete, 16 workers, in-memory floor server", `${fmt(floor)} tasks/s`]);
  for (const driver of drivers) {
    const label = driver.name === "pglite" ? "PGlite" : "Postgres";
    const single = await benchQueueThroughput({ kind: "server", driver }, 16);
    const batched = await benchQueueThroughput({ kind: "server", driver }, 16, { batch: 16 });
    rows.push([
      `tasks through create → claim → complete, 16 workers, ${label}, one task per call`,
      `${fmt(single)} tasks/s (${(single / floor).toFixed(2)} of the floor)`,
    ]);
    rows.push([
      `tasks through create → claims → completions, 16 workers, ${label}, 16 tasks per call`,
      `${fmt(batched)} tasks/s (${(batched / single).toFixed(1)}× one per call)`,
    ]);
  }
  if (url) {
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

if ((!only || only === "usage") && url) {
  for (const [k, v] of Object.entries(await benchUsage(url, Number(process.env.BENCH_USAGE_EVENTS ?? 1_000_000)))) rows.push([k, v]);
}

const fanoutTable: string[] = [];
if (!only || only === "fanout") {
  const { results, throughput } = await benchFanout(url, Number(process.env.BENCH_ROUNDS ?? 3));
  const floor = (scenario: string) => results.find((r) => r.scenario === scenario && r.target.startsWith("floor"))!;
  fanoutTable.push(
    "| subscribers × events/s | server | p50 | p99 | p50 / floor | p99 / floor | lost | server peak RSS |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of results) {
    const f = floor(r.scenario);
    fanoutTable.push(
      `| ${r.scenario} | ${r.target} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${(r.p50 / f.p50).toFixed(2)}× | ${(r.p99 / f.p99).toFixed(2)}× | ${r.lost} | ${r.rssMb.toFixed(0)} MB |`,
    );
  }
  for (const [target, rate] of Object.entries(throughput))
    rows.push([`one follower, one stream, uploads of 200: events stored and delivered per second, ${target}`, rate.toFixed(0)]);
}

console.log(`\n${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}\n`);
console.log("| figure | result |\n| --- | --- |");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
if (fanoutTable.length > 0) console.log(`\n${fanoutTable.join("\n")}`);
process.exit(0);
