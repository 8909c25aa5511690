/**
 * Where an upload's time goes: `node --cpu-prof --import tsx bench/upload-profile.ts`
 * runs the server in this process on DATABASE_URL (or PGlite) and times small sequential uploads.
 */
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createDb } from "../src/db/client.js";
import { startServer } from "../src/server.js";
import { createPostgresDatabase } from "../test/support/db.js";
import { testConfig } from "../test/support/harness.js";
import { leaseTask } from "../test/support/leased-task.js";
import { summary } from "./stats.js";

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
const times: number[] = [];
const batch = Number(process.env.BATCH ?? 1);
for (let i = 0; i < Number(process.env.UPLOADS ?? 1000); i++) {
  const t = performance.now();
  await task.upload(
    Array.from({ length: batch }, (_, j) => ({
      type: "output",
      data: { session_id: "s", message_id: "m", part_id: "p", content: `n=${i}.${j} ${"x".repeat(120)}` },
    })),
  );
  times.push(performance.now() - t);
}
const s = summary(times.slice(200));
console.log(`upload of ${batch} event(s): p50 ${s.median.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`);
await server.close(1000);
process.exit(0);
