/**
 * Usage totals, task history, retries, worker transcripts and retention, over the
 * public protocol on a real socket, on both databases: a worker is played by the
 * test (claims, uploads, completes), so retried uploads, a failover and a retry
 * happen exactly when the test says.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sql } from "drizzle-orm";
import { type RunningServer, startServer } from "../../src/server.js";
import { pruneEvents } from "../../src/services/events/retention.js";
import { failLostRuns } from "../../src/services/sessions/run-liveness.js";
import { sweepExpiredLeases } from "../../src/services/tasks/leases.js";
import { rollUpUsageInTx } from "../../src/services/usage/rollup.js";
import { testDrivers } from "../support/db.js";
import { testConfig } from "../support/harness.js";
import { connectSse } from "../support/sse-client.js";

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
type Json = Record<string, any>;

const usage = (session: string, input: number, cost: number, model?: string) => ({
  type: "usage",
  data: {
    session_id: session,
    input_tokens: input,
    output_tokens: 2,
    reasoning_tokens: 1,
    cache_read_tokens: 3,
    cache_write_tokens: 0,
    cost,
    ...(model ? { model } : {}),
  },
});
const output = (session: string, content: string) => ({ type: "output" as const, data: { session_id: session, message_id: "m", part_id: "p", content } });
const message = (session: string, id: string, role: "user" | "assistant", text: string) => ({
  info: { id, sessionID: session, role, time: { created: Date.now() } },
  parts: [{ id: `prt_${id}`, type: "text", text }],
});

for (const driver of testDrivers()) {
  describe(`usage, task history, retries, transcripts and retention (${driver.name})`, () => {
    let server: RunningServer;
    let dropDb: () => Promise<void>;
    let tmp: string;
    let codebaseId: string;
    let taskId: string;

    const api = async (method: string, route: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const res = await fetch(`${server.url}${route}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    };
    const ok = async (method: string, route: string, body?: unknown) => {
      const res = await api(method, route, body);
      assert.ok(res.status < 300, `${method} ${route}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const claim = (name: string) => ok("POST", "/v1/opencode/worker/claim", { name });
    const upload = (lease: string, events: { seq: number; type: string; data: unknown }[]) =>
      ok("POST", `/v1/opencode/worker/tasks/${taskId}/events`, { lease_token: lease, events });
    const numbered = (events: { type: string; data: unknown }[], from = 1) => events.map((e, i) => ({ seq: from + i, ...e }));
    const query = async <T>(text: ReturnType<typeof sql>) => {
      const r = await server.ctx.database.db.execute(text);
      return (Array.isArray(r) ? r : (r as { rows: unknown[] }).rows) as T[];
    };

    before(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-history-"));
      const db = await driver.create();
      dropDb = db.drop;
      // No local runner: the test is every runner there is.
      // Leases outlast the file (the server's own sweep waits as long before its first): a test makes one lapse by
      // moving its expiry, and no other lapses meanwhile on a slow machine.
      server = await startServer({ config: testConfig({ dataDir: tmp, localConcurrency: 0, leaseSeconds: 600 }), database: db.database });
      codebaseId = (await ok("POST", "/v1/opencode/codebases", { name: "hist", path: tmp })).id;
      for (const name of ["w1", "w2"]) await ok("POST", "/v1/opencode/worker/register", { name, codebases: [{ name: "hist", path: tmp }] });
      taskId = (await ok("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "count me", prompt: "Spend some tokens", max_attempts: 2 })).id;
    });
    after(async () => {
      await server?.close(1000);
      await dropDb?.();
      await rm(tmp, { recursive: true, force: true });
    });

    test("totals equal the sum of the usage events through a retried upload, a failover and a retry", async () => {
      // Attempt 1 on w1: two steps, and the same batch uploaded again (a lost answer) counts once.
      const first = await claim("w1");
      assert.equal(first.task.id, taskId);
      const batch = numbered([output("ses_1", "hello"), usage("ses_1", 10, 0.1, "fake/a"), usage("ses_1", 20, 0.2, "fake/a")]);
      assert.equal((await upload(first.lease_token, batch)).stored, 3);
      assert.equal((await upload(first.lease_token, batch)).stored, 0, "a retried upload stores nothing");
      const goingOn = numbered(
        [batch[2]!, output("ses_1", "and more")].map(({ type, data }) => ({ type, data })),
        3,
      );
      assert.equal((await upload(first.lease_token, goingOn)).stored, 1, "a batch that repeats the last one's tail stores only what is new");

      // w1 goes quiet: its lease lapses and w2 takes the task (attempt 2), numbering its events from 1 again.
      await query(sql`update tasks set lease_expires_at = now() - interval '1 second' where id = ${taskId}`);
      assert.equal(await sweepExpiredLeases({ ctx: server.ctx }), 1);
      await query(sql`update tasks set run_after = now() where id = ${taskId}`);
      const second = await claim("w2");
      assert.equal(second.attempt, 2);
      assert.equal((await upload(second.lease_token, numbered([usage("ses_2", 40, 0.4, "fake/b")]))).stored, 1, "not mistaken for attempt 1's seq 1");
      await ok("POST", `/v1/opencode/worker/tasks/${taskId}/complete`, {
        lease_token: second.lease_token,
        status: "failed",
        error: "tests failed",
        session_id: "ses_2",
      });

      // Retried: attempt 3, again on w1, with no model named (the step's model is then unknown).
      const retried = await ok("POST", `/v1/opencode/tasks/${taskId}/retry`, {});
      assert.equal(retried.status, "pending");
      assert.equal(retried.max_attempts, 2 + 3, "three more attempts");
      assert.equal(retried.session_id, null);
      assert.equal((await api("POST", `/v1/opencode/tasks/${taskId}/retry`)).status, 409, "a pending task is not retried");
      const third = await claim("w1");
      assert.equal(third.attempt, 3);
      await upload(third.lease_token, numbered([usage("ses_3", 80, 0.8)]));
      await ok("POST", `/v1/opencode/worker/tasks/${taskId}/complete`, { lease_token: third.lease_token, status: "completed", session_id: "ses_3" });

      // The truth: the stored usage events, summed by the database.
      const [events] = await query<{ input: string; cost: string; steps: string }>(
        sql`select sum((data->>'input_tokens')::bigint)::text as input, sum((data->>'cost')::numeric)::text as cost, count(*)::text as steps
            from agent_events where type = 'usage' and task_id = ${taskId}`,
      );
      assert.deepEqual(events, { input: "150", cost: "1.5", steps: "4" });
      const task = await ok("GET", `/v1/opencode/tasks/${taskId}`);
      assert.deepEqual(task.usage, {
        input_tokens: 150,
        output_tokens: 8,
        reasoning_tokens: 4,
        cache_read_tokens: 12,
        cache_write_tokens: 0,
        cost: 1.5,
        steps: 4,
      });
      const codebase = await ok("GET", `/v1/opencode/codebases/${codebaseId}`);
      assert.deepEqual(codebase.usage, task.usage);
      const sessions = await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions`);
      const ses3 = sessions.find((x: Json) => x.id === "ses_3");
      assert.equal(ses3.usage.cost, 0.8);
      assert.equal(ses3.usage.steps, 1);

      const byWorker = await ok("GET", "/v1/opencode/usage?group_by=worker");
      assert.deepEqual(
        byWorker.groups.map((g: Json) => [g.worker, g.steps, g.cost]),
        [
          ["w1", 3, 1.1],
          ["w2", 1, 0.4],
        ],
      );
      assert.deepEqual(byWorker.total, task.usage);
      const byModel = await ok("GET", "/v1/opencode/usage?group_by=model,day");
      const today = new Date().toISOString().slice(0, 10);
      assert.deepEqual(
        byModel.groups.map((g: Json) => [g.model, g.day, g.steps]),
        [
          ["unknown", today, 1],
          ["fake/b", today, 1],
          ["fake/a", today, 2],
        ],
      );
      // tRPC answers the same report.
      const trpc = await fetch(`${server.url}/trpc/usage.report?input=${encodeURIComponent(JSON.stringify({ json: { group_by: "worker" } }))}`);
      assert.deepEqual(((await trpc.json()) as Json).result.data.json.groups, byWorker.groups);
    });

    test("the usage report takes a range in whole hours and refuses what it cannot read", async () => {
      const past = await ok("GET", "/v1/opencode/usage?from=2020-01-01T00:10:00Z&to=2020-01-02T00:00:00Z");
      assert.equal(past.from, "2020-01-01T00:00:00.000Z");
      assert.deepEqual(past.groups, []);
      assert.equal(past.total.steps, 0);
      const bads = [
        "group_by=colour",
        "from=yesterday",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "unknown=1",
        "from=0000-01-01",
        "to=+010000-01-01T00:00:00Z",
      ];
      for (const bad of bads) {
        const res = await api("GET", `/v1/opencode/usage?${bad}`);
        assert.ok(res.status === 400 || res.status === 422, `${bad}: ${res.status}`);
        assert.ok(typeof res.body.detail === "string" && res.body.detail.length > 0);
      }
    });

    test("a range of whole days and loose hours adds up the daily and hourly rollups alike", async () => {
      // Stored by the append's own rollup code, at times the test picks.
      const at = (iso: string, cost: number) =>
        ({
          id: 0,
          type: "usage",
          created_at: iso,
          data: {
            session_id: "ses_range",
            input_tokens: 1,
            output_tokens: 1,
            reasoning_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost,
            model: "fake/range",
          },
        }) as const;
      await server.ctx.database.db.transaction((tx) =>
        rollUpUsageInTx(tx, "cb_range", [at("2026-01-01T05:30:00Z", 1), at("2026-01-02T12:00:00Z", 2), at("2026-01-04T23:30:00Z", 4)]),
      );
      const cost = async (from: string, to: string) => (await ok("GET", `/v1/opencode/usage?codebase_id=cb_range&from=${from}&to=${to}`)).total.cost as number;
      assert.equal(await cost("2026-01-01T05:00:00Z", "2026-01-05T00:00:00Z"), 7, "a partial first day, whole days after");
      assert.equal(await cost("2026-01-01T06:00:00Z", "2026-01-05T00:00:00Z"), 6, "the first hour left out");
      assert.equal(await cost("2026-01-01T00:00:00Z", "2026-01-04T23:00:00Z"), 3, "the last hour left out");
      assert.equal(await cost("2026-01-02T11:00:00Z", "2026-01-02T13:00:00Z"), 2, "hours inside one day");
      const days = await ok("GET", "/v1/opencode/usage?codebase_id=cb_range&from=2025-12-01T00:00:00Z&to=2026-02-01T00:00:00Z&group_by=day");
      assert.deepEqual(
        days.groups.map((g: Json) => [g.day, g.cost]),
        [
          ["2026-01-04", 4],
          ["2026-01-02", 2],
          ["2026-01-01", 1],
        ],
      );
    });

    test("a task's history streams every attempt in order, and resumes from Last-Event-ID", async () => {
      const url = `${server.url}/v1/opencode/tasks/${taskId}/events`;
      const sse = await connectSse(url);
      const stored = await query<{ seq: string }>(sql`select seq::text from agent_events where task_id = ${taskId} order by agent_events.seq`);
      const all = await sse.waitFor(stored.length);
      sse.close();
      assert.deepEqual(
        all.map((e) => e.id),
        stored.map((r) => r.seq),
        "every event of the task, in order, with the codebase stream's ids",
      );
      const statuses = all.filter((e) => e.event === "status").map((e) => JSON.parse(e.data).status);
      assert.deepEqual(statuses, ["claimed", "requeued", "claimed", "retried", "claimed"]);
      assert.equal(all.filter((e) => e.event === "complete").length, 2, "attempt 2 failed, attempt 3 completed");

      const middle = all[Math.floor(all.length / 2)]!.id!;
      const resumed = await connectSse(url, { "last-event-id": middle });
      const rest = await resumed.waitFor(all.filter((e) => Number(e.id) > Number(middle)).length);
      resumed.close();
      assert.deepEqual(
        rest.map((e) => e.id),
        all.filter((e) => Number(e.id) > Number(middle)).map((e) => e.id),
      );
      assert.equal((await api("GET", "/v1/opencode/tasks/nope/events")).status, 404);

      // The same history as JSON pages.
      const page = await fetch(`${server.url}/v1/opencode/codebases/${codebaseId}/events/history?task_id=${taskId}&limit=3`);
      assert.deepEqual(
        ((await page.json()) as Json[]).map((e) => String(e.id)),
        stored.slice(0, 3).map((r) => r.seq),
      );
      assert.ok(page.headers.get("x-next-cursor"));
    });

    test("a worker's transcript upload: readable at once, idempotent, fenced by the lease", async () => {
      const task = await ok("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "talk", prompt: "Say hello" });
      const lease = await claim("w2");
      assert.equal(lease.task.id, task.id);
      const route = `/v1/opencode/worker/tasks/${task.id}/messages`;
      const first = [message("ses_t", "msg_1", "user", "Say hello")];
      assert.deepEqual(await ok("POST", route, { lease_token: lease.lease_token, session_id: "ses_t", messages: first }), { stored: 1, message_count: 1 });
      // While it runs, the session is listed with what has been said so far.
      let detail = await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_t`);
      assert.equal(detail.status, "running");
      assert.deepEqual(
        detail.messages.map((m: Json) => m.text),
        ["Say hello"],
      );
      const both = [...first, message("ses_t", "msg_2", "assistant", "Hello!")];
      assert.deepEqual(await ok("POST", route, { lease_token: lease.lease_token, session_id: "ses_t", messages: both }), { stored: 2, message_count: 2 });
      assert.equal((await ok("POST", route, { lease_token: lease.lease_token, session_id: "ses_t", messages: both })).stored, 0, "sent again: nothing changes");
      const foreign = await api("POST", route, {
        lease_token: lease.lease_token,
        session_id: "ses_t",
        messages: [message("ses_other", "msg_x", "user", "hi")],
      });
      assert.equal(foreign.status, 422);
      // Not another session of the codebase, either: only the one this attempt runs.
      await query(sql`insert into sessions (id, codebase_id, title, status) values ('ses_someone', ${codebaseId}, 'interactive', 'completed')`);
      const elsewhere = await api("POST", route, {
        lease_token: lease.lease_token,
        session_id: "ses_someone",
        messages: [message("ses_someone", "msg_y", "user", "hi")],
      });
      assert.equal(elsewhere.status, 409);
      const events = `/v1/opencode/worker/tasks/${task.id}/events`;
      const misnamed = await api("POST", events, { lease_token: lease.lease_token, events: numbered([usage("ses_someone", 1_000_000, 99)]) });
      assert.equal(misnamed.status, 422, "usage cannot be charged to another session");
      const fractional = await api("POST", events, { lease_token: lease.lease_token, events: numbered([usage("ses_t", 1.5, 0.1)]) });
      assert.equal(fractional.status, 422, "tokens are whole");
      assert.equal((await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_someone`)).usage.steps, 0);
      // The server's liveness check leaves a worker's running session alone: its task's lease speaks for it.
      assert.equal(await failLostRuns(server.ctx, { olderThanSeconds: 0, othersNow: true }), 0);
      assert.equal((await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_t`)).status, "running");
      assert.equal((await api("POST", route, { lease_token: "stale", session_id: "ses_t", messages: both })).status, 409);
      await ok("POST", `/v1/opencode/worker/tasks/${task.id}/complete`, { lease_token: lease.lease_token, status: "completed", session_id: "ses_t" });
      detail = await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_t`);
      assert.equal(detail.status, "completed");
      assert.deepEqual(
        detail.messages.map((m: Json) => `${m.role}: ${m.text}`),
        ["user: Say hello", "assistant: Hello!"],
      );
      assert.equal((await ok("GET", `/v1/opencode/tasks/${task.id}`)).session_id, "ses_t");
    });

    test("a run after a hand-back stores its events, though it numbers them from 1 again", async () => {
      const task = await ok("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "handed back", prompt: "Start, stop, start" });
      const route = `/v1/opencode/worker/tasks/${task.id}/events`;
      const first = await claim("w1");
      await ok("POST", route, { lease_token: first.lease_token, events: numbered([output("ses_h1", "before the hand-back")]) });
      await ok("POST", `/v1/opencode/worker/tasks/${task.id}/release`, { lease_token: first.lease_token, reason: "shutting down" });
      const again = await claim("w2");
      assert.equal(again.attempt, 1, "a hand-back costs no attempt");
      assert.equal((await ok("POST", route, { lease_token: again.lease_token, events: numbered([output("ses_h2", "after it")]) })).stored, 1);
      const texts = await query<{ content: string }>(
        sql`select data->>'content' as content from agent_events where task_id = ${task.id} and type = 'output' order by agent_events.seq`,
      );
      assert.deepEqual(
        texts.map((t) => t.content),
        ["before the hand-back", "after it"],
      );
    });

    test("an attempt runs a session of its own: it cannot take over another, nor complete with another", async () => {
      const task = await ok("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "intruder", prompt: "Borrow a session" });
      const lease = await claim("w1");
      const route = `/v1/opencode/worker/tasks/${task.id}`;
      // ses_someone is an interactive session of the codebase (made by the transcript test).
      const taken = await api("POST", `${route}/events`, { lease_token: lease.lease_token, events: numbered([output("ses_someone", "mine now")]) });
      assert.equal(taken.status, 409, JSON.stringify(taken.body));
      await ok("POST", `${route}/events`, { lease_token: lease.lease_token, events: numbered([output("ses_i1", "my own")]) });
      const listed = await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_i1`);
      assert.equal(listed.status, "running", "listed while its first events arrive");
      const elsewhere = await api("POST", `${route}/complete`, { lease_token: lease.lease_token, status: "completed", session_id: "ses_someone" });
      assert.equal(elsewhere.status, 409);
      await ok("POST", `${route}/complete`, { lease_token: lease.lease_token, status: "completed", session_id: "ses_i1" });
      assert.equal((await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_someone`)).status, "completed", "untouched");
      assert.equal((await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_i1`)).status, "completed");
      const huge = await api("POST", `/v1/opencode/worker/tasks/${task.id}/messages`, {
        lease_token: lease.lease_token,
        session_id: "ses_i1",
        messages: [{ info: { id: "msg_z", sessionID: "ses_i1", role: "user", time: { created: 9e15 } }, parts: [] }],
      });
      assert.equal(huge.status, 422, "a time no database can store is refused up front");
    });

    test("a lost attempt's session ends failed, and the next attempt records a session of its own", async () => {
      const task = await ok("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "lost", prompt: "Get lost" });
      const first = await claim("w1");
      const route = `/v1/opencode/worker/tasks/${task.id}`;
      await ok("POST", `${route}/events`, { lease_token: first.lease_token, events: numbered([output("ses_l1", "one")]) });
      await ok("POST", `${route}/messages`, {
        lease_token: first.lease_token,
        session_id: "ses_l1",
        messages: [message("ses_l1", "msg_l1", "user", "Get lost")],
      });
      await query(sql`update tasks set lease_expires_at = now() - interval '1 second' where id = ${task.id}`);
      assert.equal(await sweepExpiredLeases({ ctx: server.ctx }), 1);
      const lost = await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_l1`);
      assert.equal(lost.status, "failed");
      assert.match(lost.error, /lost/);
      assert.equal((await ok("GET", `/v1/opencode/tasks/${task.id}`)).session_id, null);
      await query(sql`update tasks set run_after = now() where id = ${task.id}`);
      const second = await claim("w2");
      await ok("POST", `${route}/events`, { lease_token: second.lease_token, events: numbered([output("ses_l2", "two")]) });
      await ok("POST", `${route}/messages`, {
        lease_token: second.lease_token,
        session_id: "ses_l2",
        messages: [message("ses_l2", "msg_l2", "user", "Get lost")],
      });
      await ok("POST", `${route}/complete`, { lease_token: second.lease_token, status: "completed", session_id: "ses_l2" });
      assert.equal((await ok("GET", `/v1/opencode/tasks/${task.id}`)).session_id, "ses_l2");
      assert.equal((await ok("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_l2`)).status, "completed");
    });

    test("retention prunes old events of finished runs; a client resuming from a pruned cursor gets reset", async () => {
      const old = (await ok("POST", "/v1/opencode/codebases", { name: "old", path: tmp })).id;
      await server.ctx.events.append(old, [output("ses_done", "1"), output("ses_done", "2"), output("ses_done", "3")]);
      await server.ctx.events.append(old, [output("ses_live", "4")]);
      await server.ctx.events.append(old, [output("ses_done", "5"), output("ses_new", "6")]);
      await query(sql`insert into sessions (id, codebase_id, status) values ('ses_live', ${old}, 'running')`);
      // Events 1-5 are 40 days old; 6 is new.
      await query(sql`update agent_events set created_at = now() - interval '40 days' where stream_id = ${old} and seq <= 5`);
      const before = await ok("GET", "/v1/opencode/usage");

      await pruneEvents(server.ctx, 30);
      const kept = await query<{ seq: string }>(sql`select seq::text from agent_events where stream_id = ${old} order by agent_events.seq`);
      assert.deepEqual(
        kept.map((r) => r.seq),
        ["4", "5", "6"],
        "pruned up to the running session's first event",
      );
      // The run ends: now everything old goes.
      await query(sql`update sessions set status = 'completed' where id = 'ses_live'`);
      await pruneEvents(server.ctx, 30);
      const left = await query<{ seq: string }>(sql`select seq::text from agent_events where stream_id = ${old} order by agent_events.seq`);
      assert.deepEqual(
        left.map((r) => r.seq),
        ["6"],
      );
      assert.deepEqual(await ok("GET", "/v1/opencode/usage"), before, "usage totals outlive the events");

      const sse = await connectSse(`${server.url}/v1/opencode/codebases/${old}/events`, { "last-event-id": "2" });
      const [reset, next] = await sse.waitFor(2);
      sse.close();
      assert.equal(reset!.event, "reset");
      assert.match(JSON.parse(reset!.data).reason, /pruned/);
      assert.equal(next!.id, "6");
      // From 0 (everything there is) no reset is due: what is kept is all there is.
      const all = await connectSse(`${server.url}/v1/opencode/codebases/${old}/events?last_event_id=0`);
      const [first] = await all.waitFor(1);
      all.close();
      assert.equal(first!.id, "6");
      // A cursor past the pruned ones resumes as usual.
      const fine = await connectSse(`${server.url}/v1/opencode/codebases/${old}/events`, { "last-event-id": "5" });
      const [six] = await fine.waitFor(1);
      fine.close();
      assert.equal(six!.id, "6");
    });
  });
}
