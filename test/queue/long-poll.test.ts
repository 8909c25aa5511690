/**
 * Claims that wait for work, and the batched worker verbs, on a real socket: a
 * waiting claim gets a task created meanwhile; two waiting workers never get the
 * same one; a waiting claim ends cleanly when the server stops; a worker that hangs
 * up does not strand the task it was about to get; batches fence each task by its
 * own lease and repeat nothing.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "../../src/server.js";
import { testDrivers } from "../support/db.js";
import { testConfig } from "../support/harness.js";
import { eventually } from "../support/processes.js";

for (const driver of testDrivers()) {
  describe(`claims that wait, and batched verbs (${driver.name})`, { timeout: 120_000 }, () => {
    let server: RunningServer;
    let tmp: string;
    let dropDb: () => Promise<void>;
    let codebaseId: string;

    const call = async (method: string, route: string, body?: unknown, signal?: AbortSignal) => {
      const res = await fetch(`${server.url}${route}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      const text = await res.text();
      // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any };
    };
    const createTask = async (title: string) => (await call("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title, prompt: title })).body.id as string;
    const claim = (name: string, wait_seconds: number, signal?: AbortSignal) => call("POST", "/v1/opencode/worker/claim", { name, wait_seconds }, signal);
    /** Completes a claimed task, so no lease is left to lapse (and requeue it) while later tests run, however slowly. */
    // biome-ignore lint/suspicious/noExplicitAny: a claim as JSON
    const finish = (got: { body: any }) =>
      call("POST", `/v1/opencode/worker/tasks/${got.body.task.id}/complete`, { lease_token: got.body.lease_token, status: "completed" });

    before(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-poll-"));
      const db = await driver.create();
      dropDb = db.drop;
      server = await startServer({ config: testConfig({ dataDir: tmp, localConcurrency: 0 }), database: db.database });
      codebaseId = (await call("POST", "/v1/opencode/codebases", { name: "poll", path: tmp })).body.id;
      for (const name of ["w1", "w2", "w3"]) {
        await call("POST", "/v1/opencode/worker/register", { name, codebases: [{ name: "poll", path: tmp }], concurrency: 4 });
      }
    });
    after(async () => {
      await server?.close(1000);
      await dropDb();
      await rm(tmp, { recursive: true, force: true });
    });

    test("a claim waiting when a task is created returns that task", async () => {
      const waiting = claim("w1", 20);
      await eventually(async () => (server.ctx.taskWake.waiting > 0 ? true : undefined), 10_000, "the claim to wait");
      const id = await createTask("made while a worker waits");
      const got = await waiting;
      assert.equal(got.status, 200);
      assert.equal(got.body.task.id, id);
      assert.equal(got.body.attempt, 1);
      await finish(got);
    });

    test("two waiting workers never get the same task: one gets it, the other's wait ends with 204", async () => {
      const a = claim("w1", 3);
      const b = claim("w2", 3);
      await eventually(async () => (server.ctx.taskWake.waiting >= 2 ? true : undefined), 10_000, "both claims to wait");
      const id = await createTask("only one may have it");
      const answers = await Promise.all([a, b]);
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 204]);
      assert.equal(answers.find((r) => r.status === 200)!.body.task.id, id);
      await finish(answers.find((r) => r.status === 200)!);
    });

    test("a worker that hangs up while waiting does not strand the task it would have got", async () => {
      const hangUp = new AbortController();
      const waiting = claim("w3", 20, hangUp.signal).catch(() => "aborted");
      await eventually(async () => (server.ctx.taskWake.waiting > 0 ? true : undefined), 10_000, "the claim to wait");
      hangUp.abort();
      assert.equal(await waiting, "aborted");
      const id = await createTask("for a worker that left");
      // Either the server saw the hang-up and stopped waiting, or it claimed and handed the task straight back.
      const task = await eventually(
        async () => {
          // Read `active` first: a claim that ends while the GET is answered must not pass for none.
          if (server.ctx.taskWake.active > 0) return undefined;
          const t = (await call("GET", `/v1/opencode/tasks/${id}`)).body;
          return t.status === "pending" ? t : undefined;
        },
        30_000,
        "the task to be pending with nobody waiting",
      );
      assert.equal(task.attempts, 0, "a hand-back costs no attempt");
      // Someone who is listening takes it.
      const got = await claim("w1", 0);
      assert.equal(got.body.task.id, id);
      await finish(got);
    });

    test("claims in a batch: up to max_tasks, each its own lease; completions fenced per task and idempotent", async () => {
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push(await createTask(`batch ${i}`));
      const first = await call("POST", "/v1/opencode/worker/claims", { name: "w2", max_tasks: 3 });
      assert.equal(first.status, 200);
      const claims = first.body.claims as { task: { id: string }; lease_token: string }[];
      assert.equal(claims.length, 3);
      assert.equal(new Set(claims.map((c) => c.lease_token)).size, 3, "a lease token per task");
      assert.deepEqual(
        claims.map((c) => c.task.id),
        ids.slice(0, 3),
        "in queue order",
      );
      const rest = await call("POST", "/v1/opencode/worker/claims", { name: "w3", max_tasks: 5 });
      assert.deepEqual(
        rest.body.claims.map((c: { task: { id: string } }) => c.task.id),
        [ids[3]],
      );
      const none = await call("POST", "/v1/opencode/worker/claims", { name: "w3", max_tasks: 5, wait_seconds: 0 });
      assert.deepEqual(none.body, { claims: [] });

      const batch = {
        completions: [
          { task_id: claims[0]!.task.id, lease_token: claims[0]!.lease_token, status: "completed", result: "done 0" },
          { task_id: claims[1]!.task.id, lease_token: "not-the-lease", status: "completed" },
          { task_id: claims[2]!.task.id, lease_token: claims[2]!.lease_token, status: "failed", error: "broke" },
          { task_id: "no-such-task", lease_token: "x", status: "completed" },
        ],
      };
      const done = await call("POST", "/v1/opencode/worker/completions", batch);
      assert.equal(done.status, 200);
      const results = done.body.results as { task_id: string; ok: boolean; error?: string; task?: { status: string } }[];
      assert.deepEqual(
        results.map((r) => [r.ok, r.error ?? r.task?.status]),
        [
          [true, "completed"],
          [false, "lease_lost"],
          [true, "failed"],
          [false, "not_found"],
        ],
      );
      const again = await call("POST", "/v1/opencode/worker/completions", batch);
      assert.deepEqual(
        again.body.results.map((r: { ok: boolean }) => r.ok),
        [true, false, true, false],
        "repeating the batch answers the same",
      );
      const still = (await call("GET", `/v1/opencode/tasks/${claims[1]!.task.id}`)).body;
      assert.equal(still.status, "running", "a wrong lease changed nothing");
      // Reports of one task in one batch are taken in the batch's order (the others run side by side): the first decides.
      const twice = await call("POST", "/v1/opencode/worker/completions", {
        completions: [
          { task_id: claims[1]!.task.id, lease_token: "not-the-lease", status: "completed" },
          { task_id: rest.body.claims[0].task.id, lease_token: rest.body.claims[0].lease_token, status: "failed", error: "first" },
          { task_id: rest.body.claims[0].task.id, lease_token: rest.body.claims[0].lease_token, status: "completed", result: "second" },
        ],
      });
      assert.deepEqual(
        twice.body.results.map((r: { ok: boolean; error?: string; task?: { status: string } }) => [r.ok, r.error ?? r.task?.status]),
        [
          [false, "lease_lost"],
          [true, "failed"],
          [false, "conflict"],
        ],
      );
      assert.equal((await call("GET", `/v1/opencode/tasks/${rest.body.claims[0].task.id}`)).body.error, "first");
      const bad = await call("POST", "/v1/opencode/worker/claims", { name: "w3", max_tasks: 0 });
      assert.equal(bad.status, 422);
      const long = await call("POST", "/v1/opencode/worker/claim", { name: "w3", wait_seconds: 31 });
      assert.equal(long.status, 422);
      // Nothing of this test left leased: a lapsed lease would requeue a task under a later test's wait.
      await finish({ body: claims[1]! });
    });

    test("a waiting claim ends cleanly, with 204, when the server shuts down", async () => {
      const waiting = claim("w1", 30);
      await eventually(async () => (server.ctx.taskWake.waiting > 0 ? true : undefined), 10_000, "the claim to wait");
      const closing = server.close(5000);
      const answer = await waiting;
      assert.equal(answer.status, 204);
      await closing;
    });
  });
}
