/**
 * Where an upload's time goes: `node --cpu-prof --import tsx bench/upload-profile.ts`
 * runs the server in this process on DATABASE_URL (or PGlite) and times small sequential uploads
 * (BATCH events each, UPLOADS of them), over HTTP, through the app without sockets, or to the verb (VIA).
 */
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { NewEvent } from "../src/contracts/events.js";
import { createDb } from "../src/db/client.js";
import { createApp } from "../src/http/app.js";
import { startServer } from "../src/server.js";
import { uploadTaskEvents } from "../src/services/tasks/reports.js";
import { createPostgresDatabase } from "../test/support/db.js";
import { testConfig } from "../test/support/harness.js";
import { leaseTask } from "../test/support/leased-task.js";
import { cpuMs, summary } from "./stats.js";

const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-up-"));
const url = process.env.DATABASE_URL?.trim();
const made = url ? await createPostgresDatabase(url) : undefined;
if (made && process.env.LOG_STATEMENTS) {
  // Diagnostic only: every statement's duration in the Postgres server's log.
  const { default: postgres } = await import("postgres");
  const admin = postgres(made.url, { max: 1 });
  await admin.unsafe(`alter database "${new URL(made.url).pathname.slice(1)}" set log_min_duration_statement = 0`);
  await admin.end();
}
if (made && process.env.SYNC_OFF) {
  // Diagnostic only: how much of an upload is the commit's wait for the disk.
  const { default: postgres } = await import("postgres");
  const admin = postgres(made.url, { max: 1 });
  await admin.unsafe(`alter database "${new URL(made.url).pathname.slice(1)}" set synchronous_commit = off`);
  await admin.end();
}
const database = made ? await createDb({ driver: "postgres", url: made.url }) : await createDb({ driver: "pglite", dataDir: null });
const server = await startServer({ config: testConfig({ dataDir: tmp, localConcurrency: 0 }), database });
const task = await leaseTask(server.url, { name: "up", path: tmp });
task.stop();
// VIA=http (the default): over a socket, as a worker uploads; VIA=app: the app's fetch in this process, without
// sockets (Hono, the middleware, validation and the handler); VIA=verb: the service verb alone. Apart, their
// differences are what each layer costs an upload.
const via = process.env.VIA ?? "http";
const app = via === "app" ? createApp(server.ctx) : undefined;
let seq = 0;
const upload = async (events: NewEvent[]) => {
  if (via === "http") return task.upload(events);
  const input = { lease_token: task.leaseToken, events: events.map((e) => ({ seq: ++seq, type: e.type, data: e.data })) };
  if (via === "verb") return uploadTaskEvents({ ctx: server.ctx, taskId: task.taskId, input });
  const body = JSON.stringify(input);
  const res = await app!.fetch(
    new Request(`${server.url}/v1/opencode/worker/tasks/${task.taskId}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
      body,
    }),
  );
  if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return res.json();
};
const times: number[] = [];
const batch = Number(process.env.BATCH ?? 1);
const uploads = Number(process.env.UPLOADS ?? 1000);
let cpuStart = 0;
let postgresStart = 0;
for (let i = 0; i < uploads; i++) {
  if (i === 200) [cpuStart, postgresStart] = [cpuOfThisProcess(), url ? await cpuMs("postgres") : 0];
  const t = performance.now();
  await upload(
    Array.from({ length: batch }, (_, j) => ({
      type: "output",
      data: { session_id: "s", message_id: "m", part_id: "p", content: `n=${i}.${j} ${"x".repeat(120)}` },
    })),
  );
  times.push(performance.now() - t);
}
const s = summary(times.slice(200));
const cpu = (cpuOfThisProcess() - cpuStart) / Math.max(1, uploads - 200);
// Every Postgres process's, the other users of this machine's Postgres included (from /proc, in 10 ms ticks).
const postgres = url ? `, Postgres's ${(((await cpuMs("postgres")) - postgresStart) / Math.max(1, uploads - 200)).toFixed(3)} ms` : "";
console.log(
  `upload of ${batch} event(s) (${via}): p50 ${s.median.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, this process's CPU ${cpu.toFixed(3)} ms an upload${postgres}`,
);
await server.close(1000);
process.exit(0);

/** This process's CPU so far (user and system), in ms: with VIA=http the client's share is in it too. */
function cpuOfThisProcess(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
