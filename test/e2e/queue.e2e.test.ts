/**
 * The task queue under real processes: a server and `codetether-worker`s on the
 * real Postgres. Many tasks raced by several workers, the worker protocol's
 * idempotent reports, routing to an offline worker, and SIGTERM.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Cluster, startCluster, workerToken } from "../support/cluster.js";
import { eventually } from "../support/processes.js";
import { needs } from "../support/skip.js";

const hasPostgres = Boolean(process.env.DATABASE_URL?.trim());

describe(
  "the task queue with real worker processes",
  { timeout: 900_000 },
  needs(hasPostgres ? false : "needs DATABASE_URL", () => {
    let c: Cluster;
    before(async () => {
      // Three slots each, and a short drain so the SIGTERM test sees a hand-back quickly.
      c = await startCluster({ workers: ["worker-a", "worker-b"], isolation: "none", workerFlags: ["--concurrency", "3", "--drain-seconds", "2"] });
    });
    after(() => c.close());

    const createTask = async (codebaseId: string, body: Record<string, unknown>) => {
      const created = await c.api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body as { id: string };
    };
    const worker = (path: string, body: unknown) => c.api("POST", `/v1/opencode/worker${path}`, body, workerToken);

    test("24 tasks raced by two workers with three slots each: every one runs exactly once", { timeout: 300_000 }, async () => {
      c.llm.setScript([]); // every model call answers "done"
      const created = await Promise.all(
        Array.from({ length: 24 }, (_, i) => createTask(c.codebaseId, { title: `race ${i}`, prompt: `Task ${i}`, priority: i % 3 })),
      );
      const ids = new Set(created.map((t) => t.id));
      const done = await Promise.all(created.map((t) => c.finished(t.id, 240_000)));
      for (const t of done) {
        assert.equal(t.status, "completed", JSON.stringify(t));
        assert.equal(t.attempts, 1, `${t.id} ran once`);
        assert.match(t.worker_id, /^worker-[ab]$/);
      }
      let completes = 0;
      const stream = await c.readStream((e) => e.type === "complete" && ids.has(e.data.task_id) && ++completes === ids.size);
      for (const id of ids) {
        const mine = stream.filter((e) => e.data.task_id === id);
        assert.equal(mine.filter((e) => e.type === "complete").length, 1, `${id}: one complete`);
        assert.equal(mine.filter((e) => e.type === "status" && e.data.status === "claimed").length, 1, `${id}: claimed once`);
      }
      assert.deepEqual(
        stream.map((e) => e.id),
        stream.map((_, i) => i + 1),
        "ids are contiguous from 1",
      );
      const workers = (await c.api("GET", "/v1/opencode/workers")).body as { name: string; running_tasks: number }[];
      assert.deepEqual(
        workers.map((w) => [w.name, w.running_tasks]),
        [
          ["worker-a", 0],
          ["worker-b", 0],
        ],
      );
    });

    test("the worker protocol over HTTP: a duplicate report changes nothing, a stale or different one is refused", async () => {
      const cb = await c.api("POST", "/v1/opencode/codebases", { name: "manual", path: "/projects/manual", worker_id: "manual-1" });
      assert.equal(cb.status, 201);
      assert.equal((await worker("/register", { name: "manual-1", codebases: [{ name: "manual", path: "/projects/manual" }] })).status, 200);
      const task = await createTask(cb.body.id, { title: "by hand", prompt: "nothing" });
      const claim = await worker("/claim", { name: "manual-1" });
      assert.equal(claim.status, 200);
      assert.equal(claim.body.task.id, task.id);
      const lease = claim.body.lease_token as string;
      const base = `/tasks/${task.id}`;

      const events = [{ seq: 1, type: "output", data: { session_id: "ses_manual", message_id: "m1", part_id: "p1", content: "hello" } }];
      assert.deepEqual((await worker(`${base}/events`, { lease_token: lease, events })).body, { acked_through: 1, stored: 1 });
      assert.deepEqual((await worker(`${base}/events`, { lease_token: lease, events })).body, { acked_through: 1, stored: 0 }, "resent: skipped");

      const first = await worker(`${base}/complete`, { lease_token: lease, status: "completed", result: "hello" });
      assert.equal(first.status, 200);
      const again = await worker(`${base}/complete`, { lease_token: lease, status: "completed", result: "hello" });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body, "the same report answers the same task");
      assert.equal((await worker(`${base}/complete`, { lease_token: lease, status: "failed", error: "changed my mind" })).status, 409);
      assert.equal((await worker(`${base}/complete`, { lease_token: "stale", status: "completed" })).status, 409);
      assert.equal((await worker(`${base}/events`, { lease_token: lease, events })).status, 409, "no uploads after completion");

      const stream = await c.readStream((e) => e.type === "complete" && e.data.task_id === task.id, cb.body.id);
      assert.deepEqual(
        stream.map((e) => e.type),
        ["status", "output", "complete"],
        "claimed, one output, one complete",
      );
      assert.equal((await c.task(task.id)).status, "completed");
    });

    test("a task for a worker that is offline waits for it, then runs there", { timeout: 240_000 }, async () => {
      const dir = await c.sandbox.createCodebase("app2");
      const cb = await c.api("POST", "/v1/opencode/codebases", { name: "app2", path: dir, worker_id: "worker-c" });
      const waiting = await createTask(cb.body.id, { title: "for worker-c", prompt: "Only worker-c may do this", priority: 100 });
      // Other work flows past it meanwhile: the online workers never take it.
      const other = await createTask(c.codebaseId, { title: "meanwhile", prompt: "Something else" });
      assert.equal((await c.finished(other.id)).status, "completed");
      const still = await c.task(waiting.id);
      assert.equal(still.status, "pending");
      assert.equal(still.attempts, 0);

      await c.spawnWorker("worker-c", { codebases: [`app2:${dir}`] });
      const done = await c.finished(waiting.id);
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(done.worker_id, "worker-c");
    });

    test("a frozen worker (SIGSTOP) loses its task to another; woken up, it is fenced off and nothing of it lands", { timeout: 240_000 }, async () => {
      c.llm.setScript([{ hangMs: 120_000, text: "Frozen soon" }, { text: "Done by the other one." }]);
      const created = await createTask(c.codebaseId, { title: "zombie", prompt: "Work" });
      await c.readStream((e) => e.type === "output" && e.data.content === "Frozen soon");
      const first = await c.task(created.id);
      const zombie = c.workers.get(first.worker_id)!;
      zombie.child.kill("SIGSTOP");
      const done = await c.finished(created.id).finally(() => zombie.child.kill("SIGCONT"));
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.notEqual(done.worker_id, first.worker_id);
      assert.equal(done.attempts, 2);
      assert.equal(done.result, "Done by the other one.");

      // Woken, the zombie learns from its next heartbeat that the lease is gone and stops its agent.
      await eventually(async () => (/lease lost, stopping/.test(zombie.output()) ? true : undefined), 60_000, "the zombie to notice");
      const stream = await c.readStream((e) => e.type === "complete" && e.data.task_id === created.id);
      const secondClaim = stream.findIndex((e) => e.type === "status" && e.data.status === "claimed" && e.data.task_id === created.id && e.data.attempt === 2);
      assert.ok(secondClaim > 0);
      const late = stream.slice(secondClaim).filter((e) => e.data.session_id === first.session_id);
      assert.deepEqual(late, [], "no event of the zombie's attempt after the takeover");
      assert.equal(stream.filter((e) => e.type === "complete" && e.data.task_id === created.id).length, 1);
      assert.equal(zombie.child.exitCode, null, "the zombie lives on and can take other work");
    });

    test("SIGTERM: a worker hands back a task it cannot finish within --drain-seconds; another runs it", { timeout: 240_000 }, async () => {
      c.llm.setScript([{ hangMs: 120_000, text: "Working" }, { text: "Finished after the hand-back." }]);
      const created = await createTask(c.codebaseId, { title: "handed back", prompt: "Take long" });
      await c.readStream((e) => e.type === "output" && e.data.content === "Working");
      const running = await c.task(created.id);
      const holder = c.workers.get(running.worker_id)!;
      holder.child.kill("SIGTERM");
      assert.deepEqual(await holder.exited, { code: 0, signal: null }, holder.output());
      assert.match(holder.output(), /SIGTERM received/);

      const done = await c.finished(created.id);
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.notEqual(done.worker_id, running.worker_id);
      assert.equal(done.attempts, 1, "a hand-back does not count as an attempt");
      assert.deepEqual(done.attempt_errors, []);
      const stream = await c.readStream((e) => e.type === "complete" && e.data.task_id === created.id);
      assert.ok(stream.some((e) => e.type === "status" && e.data.status === "released" && e.data.task_id === created.id));
      await c.spawnWorker(running.worker_id);
      await c.online([running.worker_id]);
    });

    test("SIGTERM: a worker finishes the task it is running when it can, then exits", { timeout: 240_000 }, async () => {
      const dir = await c.sandbox.createCodebase("app3");
      const patient = await c.spawnWorker("worker-e", { codebases: [`app3:${dir}`], flags: ["--drain-seconds", "120"] });
      await c.online(["worker-e"]);
      // Registering "app3" made it worker-e's codebase.
      const codebases = (await c.api("GET", "/v1/opencode/codebases")).body as { id: string; name: string; worker_id: string | null }[];
      const app3 = codebases.find((cb) => cb.name === "app3")!;
      assert.equal(app3.worker_id, "worker-e");

      c.llm.setScript([{ text: "one two three four", chunks: 4, chunkDelayMs: 500 }]);
      const created = await createTask(app3.id, { title: "finish me", prompt: "Stream a little" });
      await c.readStream((e) => e.type === "output", app3.id);
      patient.child.kill("SIGTERM");
      assert.deepEqual(await patient.exited, { code: 0, signal: null }, patient.output());
      const done = await c.task(created.id);
      assert.equal(done.status, "completed", "finished before the worker exited");
      assert.equal(done.worker_id, "worker-e");
      assert.equal(done.result, "one two three four");
    });
  }),
);
