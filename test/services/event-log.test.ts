import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AgentEvent, NewEvent } from "../../src/contracts/events.js";
import { createDb, type Database } from "../../src/db/client.js";
import { toMessage } from "../../src/http/rest/event-stream.js";
import { EventLog } from "../../src/services/events/log.js";
import { StreamWindow } from "../../src/services/events/window.js";
import { createPostgresDatabase, testDrivers } from "../support/db.js";
import { needs } from "../support/skip.js";

const output = (i: number, writer = 0): NewEvent => ({
  type: "output",
  data: { session_id: "s", message_id: `w${writer}`, part_id: "p", content: String(i) },
});

for (const driver of testDrivers()) {
  describe(`event log (${driver.name})`, () => {
    let db: Awaited<ReturnType<typeof driver.create>>;
    let log: EventLog;
    before(async () => {
      db = await driver.create();
      log = new EventLog(db.database);
      await log.start();
    });
    after(async () => {
      await log.stop();
      await db.drop();
      await db.database.close().catch(() => {});
    });

    test("ids are 1, 2, 3, ... per stream and reads resume after a cursor", async () => {
      const stored = await log.append("a", [output(1), output(2), output(3)]);
      assert.deepEqual(
        stored.map((e) => e.id),
        [1, 2, 3],
      );
      assert.deepEqual(
        (await log.append("b", [output(1)])).map((e) => e.id),
        [1],
      );
      assert.deepEqual(
        (await log.read("a", 1)).map((e) => e.data),
        [output(2).data, output(3).data],
      );
      assert.equal(await log.head("a"), 3);
      assert.equal(await log.head("nothing-yet"), 0);
    });

    test("appends made while a write is in flight keep their order and their own ids", async () => {
      const calls = Array.from({ length: 50 }, (_, i) => log.append("burst", [output(i)]));
      const results = await Promise.all(calls);
      assert.deepEqual(
        results.map((r) => r[0]!.id),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        (await log.read("burst", 0, 100)).map((e) => (e.data as { content: string }).content),
        Array.from({ length: 50 }, (_, i) => String(i)),
      );
    });

    test("a waiting reader wakes when the stream moves", async () => {
      const head = await log.head("wake");
      const waiting = log.waitForMore("wake", head);
      await log.append("wake", [output(1)]);
      await waiting;
      assert.equal((await log.read("wake", head)).length, 1);
    });

    test("text Postgres cannot store (NUL, unpaired surrogates) is kept as U+FFFD, not lost", async () => {
      const odd: NewEvent = { type: "output", data: { session_id: "s", message_id: "m", part_id: "p", content: "bin\u0000ary \ud800 ok 😀" } };
      const [stored] = await log.append("odd", [odd]);
      assert.equal(stored!.id, 1);
      const [read] = await log.read("odd", 0);
      assert.equal(read!.type === "output" && read!.data.content, "bin\ufffdary \ufffd ok 😀");
    });

    test("an event's SSE message as this process stored it is the one read back, byte for byte", async () => {
      // Keys out of jsonb's order (shorter first, then by bytes), a task id the data names too, text to replace.
      const events: NewEvent[] = [
        { type: "output", data: { session_id: "s", part_id: "p", message_id: "m", content: "a\u0000b" }, taskId: "tsk_1" },
        { type: "complete", data: { status: "completed", task_id: "tsk_1", session_id: null, run_id: "run_1" }, taskId: "tsk_1" },
        { type: "status", data: { status: "running", session_id: "s", agent: "build", model: "p/m", message: "é 😀" } },
      ];
      const stored = await log.append("framed", events);
      // Read by another log, as another server (or a resume after this one's window is gone) reads it: from the table.
      const other = new EventLog(db.database);
      const read = await other.read("framed", 0);
      assert.notEqual(read[0], stored[0]);
      assert.deepEqual(read.map(toMessage), stored.map(toMessage));
      assert.match(toMessage(stored[0]!), /^event: output\nid: 1\ndata: \{"task_id":"tsk_1","content":"a\uFFFDb","part_id":"p",/u);
    });
  });
}

const url = process.env.DATABASE_URL?.trim();
describe(
  "event log across connections (real Postgres)",
  {},
  needs(url ? false : "needs DATABASE_URL", () => {
    let dbUrl: string;
    let drop: () => Promise<void>;
    const opened: Database[] = [];
    const logs: EventLog[] = [];
    before(async () => {
      ({ url: dbUrl, drop } = await createPostgresDatabase(url!));
    });
    after(async () => {
      for (const l of logs) await l.stop();
      for (const d of opened) await d.close();
      await drop();
    });
    async function open(pollFallbackMs?: number): Promise<EventLog> {
      const database = await createDb({ driver: "postgres", url: dbUrl, maxConnections: 4 });
      opened.push(database);
      const log = new EventLog(database, { pollFallbackMs });
      await log.start();
      logs.push(log);
      return log;
    }

    test("8 concurrent writers on separate pools: a tailing reader sees contiguous ids, none twice, none skipped", async () => {
      const writers = await Promise.all(Array.from({ length: 8 }, () => open()));
      const reader = await open();
      const perWriter = 300;
      const total = writers.length * perWriter;
      const seen: number[] = [];
      const tail = (async () => {
        let cursor = 0;
        while (seen.length < total) {
          const page = await reader.read("race", cursor, 1000);
          for (const e of page) {
            seen.push(e.id);
            cursor = e.id;
          }
          if (page.length === 0) await reader.waitForMore("race", cursor);
        }
      })();
      await Promise.all(
        writers.map(async (w, wi) => {
          for (let i = 0; i < perWriter; i += 3) await w.append("race", [output(i, wi), output(i + 1, wi), output(i + 2, wi)]);
        }),
      );
      await tail;
      assert.deepEqual(
        seen,
        Array.from({ length: total }, (_, i) => i + 1),
      );
      // Each writer's own events keep their order.
      const all = await reader.read("race", 0, total);
      for (let wi = 0; wi < writers.length; wi++) {
        const mine = all.filter((e) => (e.data as { message_id: string }).message_id === `w${wi}`).map((e) => Number((e.data as { content: string }).content));
        assert.deepEqual(
          mine,
          Array.from({ length: perWriter }, (_, i) => i),
        );
      }
    });

    test("a reader on another connection is woken by NOTIFY, not by polling", async () => {
      // The reader's poll fallback is an hour, so only the NOTIFY hint can wake it.
      const [writer, reader] = [await open(), await open(3_600_000)];
      const head = await reader.head("notify");
      const waiting = reader.waitForMore("notify", head);
      await writer.append("notify", [output(1)]);
      await waiting;
      assert.equal((await reader.read("notify", head)).length, 1);
    });
  }),
);

describe("the shared window of a followed stream", () => {
  const event = (id: number, content = "x"): AgentEvent =>
    ({ id, type: "output", data: { session_id: "s", message_id: "m", part_id: "p", content }, created_at: new Date(0).toISOString() }) as AgentEvent;

  test("holds a contiguous run of ids: older cursors read the database, a gap is refused", () => {
    const window = new StreamWindow(10, { maxBytes: 1 << 20, maxEvents: 100 });
    assert.deepEqual(window.after(10, 50), [], "caught up: nothing yet");
    assert.equal(window.after(9, 50), undefined, "before the window: read the database");
    assert.equal(window.push([event(11), event(12)]), true);
    assert.deepEqual(
      window.after(10, 50)?.map((e) => e.id),
      [11, 12],
    );
    assert.deepEqual(
      window.after(11, 50)?.map((e) => e.id),
      [12],
    );
    assert.equal(window.push([event(12), event(14)]), false, "13 is missing: the caller reads it");
    assert.equal(window.end, 12);
    assert.equal(window.push([event(13), event(14)]), true);
    assert.deepEqual(
      window.after(10, 2)?.map((e) => e.id),
      [11, 12],
      "a page at most",
    );
  });

  test("drops its oldest events past its byte and count caps", () => {
    const window = new StreamWindow(0, { maxBytes: 10_000, maxEvents: 50 });
    window.push(Array.from({ length: 40 }, (_, i) => event(i + 1, "y".repeat(1000))));
    assert.ok(window.size.bytes <= 10_000, `bytes ${window.size.bytes}`);
    assert.ok(window.size.events < 40 && window.size.events > 0);
    assert.equal(window.end, 40);
    assert.equal(window.after(0, 10), undefined, "the oldest are gone: a follower there reads the database");
    const counted = new StreamWindow(0, { maxBytes: 1 << 20, maxEvents: 5 });
    counted.push(Array.from({ length: 8 }, (_, i) => event(i + 1)));
    assert.deepEqual(
      counted.after(3, 10)?.map((e) => e.id),
      [4, 5, 6, 7, 8],
    );
  });
});
