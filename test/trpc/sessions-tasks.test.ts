/**
 * The sessions, tasks, workers and events routers answer like their REST
 * counterparts, over the same service verbs: typed errors for bad input, unknown
 * ids and wrong states; the happy paths that need no OpenCode. (Triggering over
 * tRPC with the real OpenCode is in test/e2e/bridge.e2e.test.ts.)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";
import { trpcError } from "../support/trpc.js";

for (const driver of testDrivers()) {
  describe(`sessions, tasks, workers and events over tRPC (${driver.name})`, () => {
    let h: Harness;
    let local: string;
    let remote: string;
    before(async () => {
      h = await createHarness(driver, { localConcurrency: 0 });
      local = (await h.trpc.codebases.create({ name: "local", path: h.tmp })).id;
      remote = (await h.trpc.codebases.create({ name: "remote", path: "/projects/remote", worker_id: "worker-1" })).id;
    });
    after(() => h.close());

    test("sessions: unknown ids are NOT_FOUND, a worker's codebase is CONFLICT, bad input BAD_REQUEST", async () => {
      assert.deepEqual(await h.trpc.sessions.list({ codebaseId: local }), []);
      assert.equal((await trpcError(h.trpc.sessions.list({ codebaseId: "nope" }))).code, "NOT_FOUND");
      const missing = await trpcError(h.trpc.sessions.get({ codebaseId: local, sessionId: "ses_nope" }));
      assert.equal(missing.code, "NOT_FOUND");
      assert.equal(missing.message, "Session not found");
      assert.equal((await trpcError(h.trpc.sessions.abort({ codebaseId: local, sessionId: "ses_nope" }))).code, "NOT_FOUND");
      const onWorker = await trpcError(h.trpc.sessions.trigger({ codebaseId: remote, request: { prompt: "hi" } }));
      assert.equal(onWorker.code, "CONFLICT");
      assert.match(onWorker.message, /create a task/);
      const empty = await trpcError(h.trpc.sessions.trigger({ codebaseId: local, request: { prompt: "  " } }));
      assert.equal(empty.code, "BAD_REQUEST");
      const agent = await trpcError(h.trpc.sessions.trigger({ codebaseId: local, request: { prompt: "hi", agent: "root" as never } }));
      assert.equal(agent.code, "BAD_REQUEST");
      const reply = await trpcError(
        h.trpc.sessions.answerPermission({ codebaseId: local, sessionId: "ses_nope", permissionId: "per_x", reply: "maybe" as never }),
      );
      assert.equal(reply.code, "BAD_REQUEST");
    });

    test("tasks and workers: the same verbs as REST, with typed errors", async () => {
      const task = await h.trpc.tasks.create({ codebaseId: local, task: { title: "t", prompt: "p", priority: 3 } });
      assert.equal(task.status, "pending");
      assert.equal(task.agent_type, "build");
      assert.deepEqual(await h.trpc.tasks.get({ id: task.id }), task);
      assert.deepEqual(
        (await h.trpc.tasks.list({ status: "pending", codebase_id: local })).map((t) => t.id),
        [task.id],
      );
      assert.equal((await h.trpc.tasks.cancel({ id: task.id })).status, "cancelled");
      assert.equal((await trpcError(h.trpc.tasks.cancel({ id: task.id }))).code, "CONFLICT");
      assert.equal((await trpcError(h.trpc.tasks.get({ id: "nope" }))).code, "NOT_FOUND");
      assert.equal((await trpcError(h.trpc.tasks.create({ codebaseId: "nope", task: { title: "t", prompt: "p" } }))).code, "NOT_FOUND");
      const bad = await trpcError(h.trpc.tasks.create({ codebaseId: local, task: { title: "t", prompt: "p", model: "nope" } }));
      assert.equal(bad.code, "BAD_REQUEST");
      assert.deepEqual(await h.trpc.workers.list(), []);
    });

    test("events: an unknown codebase is NOT_FOUND, a malformed cursor BAD_REQUEST, a stored event comes back tracked", async () => {
      const subscribe = (input: { codebaseId: string; lastEventId?: string }) => h.trpc.events.onCodebaseEvents(input);
      const first = async (input: { codebaseId: string; lastEventId?: string }) => {
        const stream = await subscribe(input);
        for await (const item of stream) return item;
        assert.fail("the stream ended");
      };
      assert.equal((await trpcError(first({ codebaseId: "nope" }))).code, "NOT_FOUND");
      assert.equal((await trpcError(first({ codebaseId: local, lastEventId: "abc" }))).code, "BAD_REQUEST");
      const [stored] = await h.ctx.events.append(local, [{ type: "status", data: { session_id: null, status: "running" } }]);
      const head = stored!.id;
      const item = (await first({ codebaseId: local, lastEventId: String(head - 1) })) as unknown as [string, { id: number; type: string }];
      // tracked(id, event) travels as [id, event, symbol] inside the server.
      assert.equal(item[0], String(head));
      assert.equal(item[1].type, "status");
    });

    test("events.onActivity says which codebases' streams moved, coalesced", async () => {
      const activity = await h.trpc.events.onActivity();
      const iterator = activity[Symbol.asyncIterator]();
      const next = iterator.next();
      const [a] = await h.ctx.events.append(local, [{ type: "status", data: { session_id: null, status: "running" } }]);
      const [b] = await h.ctx.events.append(local, [{ type: "status", data: { session_id: null, status: "idle" } }]);
      const { value } = await next;
      // Both appends fall in one coalescing window: one message, naming the newest event.
      assert.deepEqual(value, { codebases: [{ codebase_id: local, head: b!.id }] });
      assert.ok(b!.id > a!.id);
      await iterator.return?.();
    });
  });
}
