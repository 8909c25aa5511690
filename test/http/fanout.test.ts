/**
 * Fan-out: many followers of one stream share one read of it. Every follower gets
 * every event exactly once and in order, whether it follows live, falls behind the
 * shared window and reads the database by itself, or resumes from its cursor; the
 * database is read about once per batch, not once per follower; a process with
 * all its stream slots taken answers 503 with Retry-After.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { NewEvent } from "../../src/contracts/events.js";
import { createDb } from "../../src/db/client.js";
import { type RunningServer, startServer } from "../../src/server.js";
import type { EventLog } from "../../src/services/events/log.js";
import { createPostgresDatabase, testDrivers } from "../support/db.js";
import { testConfig } from "../support/harness.js";
import { leaseTask } from "../support/leased-task.js";
import { needs } from "../support/skip.js";
import { connectSse, type SseConnection } from "../support/sse-client.js";

// Enough that reading per follower would show (followers × batches reads); the property does not grow with more.
// The benchmark (bench/fanout.ts) is where many followers are measured.
const followers = 50;
const batches = 60;
const perBatch = 20;

const output = (i: number): NewEvent => ({
  type: "output",
  // About 800 bytes each as the window counts them, so the 512 KiB window holds about 650 of the 1,200 and a
  // follower that comes back late must read the database.
  data: { session_id: "ses_fan", message_id: "m", part_id: "p", content: `chunk ${i} ${"x".repeat(280)}` },
});

/** Checks a follower received chunks 1..n exactly once, in order, at ids base + 1 .. base + n. */
function assertEveryEventOnce(events: { id?: string; data: string }[], base: number, n: number, who: string) {
  assert.equal(events.length, n, `${who}: ${events.length} events, expected ${n}`);
  for (let i = 0; i < n; i++) {
    const id = Number(events[i]!.id);
    if (id !== base + i + 1) assert.fail(`${who}: event ${i} has id ${id}, expected ${base + i + 1}`);
    const content = (JSON.parse(events[i]!.data) as { content: string }).content;
    if (!content.startsWith(`chunk ${i + 1} `)) assert.fail(`${who}: event ${id} carries "${content.slice(0, 20)}"`);
  }
}

for (const driver of testDrivers()) {
  describe(`fan-out to ${followers} followers of one stream (${driver.name})`, { timeout: 240_000 }, () => {
    let server: RunningServer;
    let dropDb: () => Promise<void>;
    let tmp: string;

    before(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-fan-"));
      const db = await driver.create();
      dropDb = db.drop;
      const config = testConfig({ dataDir: tmp, localConcurrency: 0, streamWindowBytes: 512 * 1024 });
      server = await startServer({ config, database: db.database });
    });
    after(async () => {
      await server.close(1000);
      await dropDb();
      await rm(tmp, { recursive: true, force: true });
    });

    test("each follower gets every uploaded event once, in order, while one leaves and resumes from its cursor; reads are shared", async () => {
      const task = await leaseTask(server.url, { name: "fan", path: tmp });
      const url = `${server.url}/v1/opencode/codebases/${task.codebaseId}/events`;
      // The queue's own events (queued, claimed) come first; followers start live after them.
      const base = await server.ctx.events.head(task.codebaseId);
      const conns: SseConnection[] = [];
      for (let i = 0; i < followers; i++) conns.push(await connectSse(url));
      assert.ok(conns.every((c) => c.status === 200));
      const leaver = await connectSse(url);

      let reads = 0;
      const read = server.ctx.events.read.bind(server.ctx.events);
      server.ctx.events.read = (...args) => {
        reads++;
        return read(...args);
      };

      let n = 0;
      for (let b = 0; b < batches; b++) {
        await task.upload(Array.from({ length: perBatch }, () => output(++n)));
        if (b === 5) {
          // The leaver stops after what it has read so far, and comes back once the stream has moved far past the window.
          await leaver.waitFor(perBatch * 6);
          leaver.close();
        }
      }
      const seen = leaver.events.slice(0, perBatch * 6);
      const resumed = await connectSse(url, { "last-event-id": seen.at(-1)!.id! });
      // A live event after the resume: the resumed follower must have rejoined the shared path to get it in order.
      await task.upload([output(++n)]);

      for (const [i, conn] of conns.entries()) {
        await conn.waitFor(n);
        assertEveryEventOnce(conn.events, base, n, `follower ${i}`);
      }
      await resumed.waitFor(n - seen.length);
      assertEveryEventOnce([...seen, ...resumed.events], base, n, "the follower that resumed");

      // One read per stream, not per follower: reading per follower would be followers × batches (3,000 here);
      // shared, it is the resumed follower's catch-up (plus any follower that fell behind the window).
      assert.ok(reads < batches, `${reads} reads of the stream for ${followers} followers and ${batches + 1} uploads`);
      const window = server.ctx.events.windowSize(task.codebaseId);
      assert.ok(window && window.bytes <= 512 * 1024, `the shared window stays within its byte cap (${JSON.stringify(window)})`);
      for (const c of [...conns, resumed]) c.close();
    });
  });
}

describe("the stream limit (CODETETHER_MAX_STREAMS)", () => {
  let server: RunningServer;
  let tmp: string;
  let dropDb: () => Promise<void>;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ct-fanlimit-"));
    const db = await testDrivers()[0]!.create();
    dropDb = db.drop;
    const config = testConfig({ dataDir: tmp });
    config.http = { ...config.http, maxStreams: 2 };
    server = await startServer({ config, database: db.database });
  });
  after(async () => {
    await server.close(1000);
    await dropDb();
    await rm(tmp, { recursive: true, force: true });
  });

  test("a stream beyond the limit gets 503 with Retry-After; a freed slot is taken again", async () => {
    const res = await fetch(`${server.url}/v1/opencode/codebases`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "lim", path: tmp }),
    });
    const { id } = (await res.json()) as { id: string };
    const url = `${server.url}/v1/opencode/codebases/${id}/events`;
    const a = await connectSse(url);
    const b = await connectSse(url);
    assert.deepEqual([a.status, b.status], [200, 200]);
    const refused = await fetch(url, { headers: { accept: "text/event-stream" } });
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get("retry-after")) > 0, "Retry-After says when to try again");
    assert.match(((await refused.json()) as { detail: string }).detail, /CODETETHER_MAX_STREAMS/);
    a.close();
    await a.ended;
    let again: SseConnection | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      again = await connectSse(url);
      if (again.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(again?.status, 200, "the slot the closed stream held is free again");
    again!.close();
    b.close();
  });
});

const pgUrl = process.env.DATABASE_URL?.trim();
describe(
  "followers on two servers sharing Postgres",
  { timeout: 120_000 },
  needs(pgUrl ? false : "needs DATABASE_URL", () => {
    const servers: RunningServer[] = [];
    let tmp: string;
    let drop: () => Promise<void>;
    before(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-fan2-"));
      const made = await createPostgresDatabase(pgUrl!);
      drop = made.drop;
      for (let i = 0; i < 2; i++) {
        // Each server has its own pool, its own LISTEN connection and its own event log, as separate processes do.
        const database = await createDb({ driver: "postgres", url: made.url, maxConnections: 4 });
        servers.push(await startServer({ config: testConfig({ dataDir: tmp, localConcurrency: 0 }), database }));
      }
    });
    after(async () => {
      for (const s of servers) await s.close(1000);
      await drop();
      await rm(tmp, { recursive: true, force: true });
    });

    test("uploads to one server and appends on the other reach followers of both in the same order", async () => {
      const [a, b] = servers as [RunningServer, RunningServer];
      const task = await leaseTask(a.url, { name: "two", path: tmp });
      const onA = await Promise.all(Array.from({ length: 20 }, () => connectSse(`${a.url}/v1/opencode/codebases/${task.codebaseId}/events`)));
      const onB = await Promise.all(Array.from({ length: 20 }, () => connectSse(`${b.url}/v1/opencode/codebases/${task.codebaseId}/events`)));
      let n = 0;
      const localOnB = b.ctx.events as EventLog;
      for (let i = 0; i < 30; i++) {
        await Promise.all([task.upload([output(++n), output(++n)]), localOnB.append(task.codebaseId, [output(++n)])]);
      }
      const expected = onA[0]!;
      await expected.waitFor(n);
      const sequence = expected.events.map((e) => `${e.id}:${e.data}`);
      const first = Number(expected.events[0]!.id);
      assert.deepEqual(
        expected.events.map((e) => Number(e.id)),
        Array.from({ length: n }, (_, i) => first + i),
        "contiguous ids",
      );
      for (const conn of [...onA, ...onB]) {
        await conn.waitFor(n);
        assert.deepEqual(
          conn.events.map((e) => `${e.id}:${e.data}`),
          sequence,
        );
        conn.close();
      }
    });
  }),
);
