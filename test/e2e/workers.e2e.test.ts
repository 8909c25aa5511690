/**
 * Fault tests with real processes: a server and two `codetether-worker`s, each
 * worker with its own real `opencode serve`, on the real Postgres.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import postgres from "postgres";
import { apiKey, type Cluster, providerKey, type StreamEvent, startCluster, workerToken } from "../support/cluster.js";
import { needs } from "../support/skip.js";

const hasPostgres = Boolean(process.env.DATABASE_URL?.trim());

describe(
  "workers and the server as separate processes",
  { timeout: 900_000 },
  needs(hasPostgres ? false : "needs DATABASE_URL", () => {
    let c: Cluster;
    before(async () => {
      c = await startCluster({ workers: ["worker-a", "worker-b"] });
    });
    after(() => c.close());

    const createTask = async (body: Record<string, unknown>) => {
      const created = await c.api("POST", `/v1/opencode/codebases/${c.codebaseId}/tasks`, body);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body as { id: string };
    };
    const untilComplete = (taskId: string) => c.readStream((e) => e.type === "complete" && e.data.task_id === taskId);
    const contiguous = (stream: StreamEvent[]) =>
      assert.deepEqual(
        stream.map((e) => e.id),
        stream.map((_, i) => i + 1),
        "ids are contiguous from 1",
      );

    test("a task queued for the codebase runs on a worker and its events reach the server in order", { timeout: 180_000 }, async () => {
      c.llm.setScript([{ tool: "write", args: { filePath: "from-worker.txt", content: "worker wrote this\n" } }, { text: "Done on the worker." }]);
      const created = await createTask({ title: "write a file", prompt: "Write from-worker.txt", agent_type: "build", priority: 1 });
      const done = await c.finished(created.id);
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(done.attempts, 1);
      assert.match(done.worker_id, /^worker-[ab]$/);
      assert.match(done.session_id, /^ses_/);
      assert.equal(done.result, "Done on the worker.");
      // The worker ran it in a worktree of its copy: the copy itself is untouched until the change is applied.
      assert.equal(existsSync(path.join(c.dir, "from-worker.txt")), false);
      assert.equal(done.worktree.state, "active");
      assert.match(done.worktree.runner, /^worker-[ab]$/);
      assert.equal(await readFile(path.join(done.worktree.path, "from-worker.txt"), "utf8"), "worker wrote this\n");

      const stream = await untilComplete(done.id);
      const types = stream.filter((e) => e.data.task_id === done.id || e.data.session_id === done.session_id).map((e) => e.type);
      assert.equal(types[0], "status", "claimed first");
      assert.ok(types.indexOf("tool_use") < types.indexOf("file_change"));
      assert.ok(types.indexOf("file_change") < types.lastIndexOf("output"));
      assert.equal(types.at(-1), "complete");
      contiguous(stream);
      const session = await c.api("GET", `/v1/opencode/codebases/${c.codebaseId}/sessions/${done.session_id}`);
      assert.equal(session.body.status, "completed");
      // The worker sent its session's transcript: readable here although the session lives in the worker's OpenCode.
      const texts = (session.body.messages as { role: string; text: string }[]).map((m) => `${m.role}: ${m.text}`);
      assert.ok(texts.includes("user: Write from-worker.txt"), texts.join(" | "));
      assert.ok(texts.includes("assistant: Done on the worker."), texts.join(" | "));
      assert.equal(session.body.message_count, session.body.messages.length);
      // What the worker's steps cost is counted once, on the task and the session alike.
      const usage = stream.filter((e) => e.type === "usage" && e.data.task_id === done.id);
      const task = await c.task(done.id);
      assert.equal(task.usage.steps, usage.length);
      assert.ok(task.usage.steps >= 2 && task.usage.cost > 0, JSON.stringify(task.usage));
      assert.deepEqual(session.body.usage, task.usage);
      // The worker's diff reached the server, with a diff event on the stream.
      const diff = await c.api("GET", `/v1/opencode/tasks/${done.id}/diff`);
      assert.equal(diff.status, 200, JSON.stringify(diff.body));
      assert.deepEqual(
        diff.body.files.map((f: { path: string; status: string }) => [f.path, f.status]),
        [["from-worker.txt", "added"]],
      );
      assert.match(diff.body.diff, /\+worker wrote this/);
      assert.ok(stream.some((e) => e.type === "diff" && e.data.task_id === done.id && e.data.final));
      // Applying it is the worker's to do, in its copy: queued for it, then reported back.
      const applied = await c.api("POST", `/v1/opencode/tasks/${done.id}/apply`, { mode: "merge" });
      assert.equal(applied.status, 202, JSON.stringify(applied.body));
      assert.equal(applied.body.state, "queued");
      const action = await c.finished(applied.body.task_id);
      assert.equal(action.status, "completed", JSON.stringify(action));
      assert.equal(action.kind, "apply");
      assert.equal(action.worker_id, done.worker_id);
      assert.equal(await readFile(path.join(c.dir, "from-worker.txt"), "utf8"), "worker wrote this\n");
      const after = await c.api("GET", `/v1/opencode/tasks/${done.id}/diff`);
      assert.equal(after.body.state, "applied");
      assert.equal(after.body.applied_mode, "merge");
      assert.equal(existsSync(done.worktree.path), false);
    });

    test("the server's and workers' logs say what happened, as JSON lines, and hold no secret", async () => {
      const serverLog = c.server.output();
      const workerLogs = [...c.workers.values()].map((w) => w.output()).join("\n");
      for (const secret of [apiKey, workerToken, providerKey]) {
        assert.ok(!serverLog.includes(secret), `the server's log holds ${secret}`);
        assert.ok(!workerLogs.includes(secret), `a worker's log holds ${secret}`);
      }
      const lines = serverLog
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const said = (msg: string) => lines.filter((l) => l.msg === msg);
      assert.ok(
        said("worker registered").some((l) => l.worker === "worker-a"),
        "worker registration is logged",
      );
      const requests = said("request");
      assert.ok(requests.length > 0, "requests are logged");
      for (const r of requests) {
        assert.match(String(r.req_id), /^[\w.:-]+$/);
        assert.equal(typeof r.status, "number");
        assert.equal(typeof r.ms, "number");
      }
      assert.ok(
        requests.some((r) => r.route === "/v1/opencode/codebases/{id}/tasks" || r.route === "/v1/opencode/codebases/:id/tasks"),
        "routes are logged as patterns",
      );
      const claimed = said("task claimed");
      assert.ok(claimed.length > 0 && claimed.every((l) => typeof l.task_id === "string" && l.attempt === 1), "claims are logged with task and attempt");
      assert.ok(
        said("run started").some((l) => typeof l.session_id === "string"),
        "a run's start is logged with its session",
      );
      const ended = said("run completed");
      assert.ok(
        ended.some((l) => typeof l.task_id === "string" && typeof l.duration_s === "number"),
        "a run's end is logged with its duration",
      );
      assert.match(workerLogs, /"msg":"registered as worker-[ab]/);
    });

    test("a worker killed with SIGKILL mid-task: the other worker finishes it, every event once", { timeout: 240_000 }, async () => {
      c.llm.setScript([{ hangMs: 120_000, text: "Working on it" }, { text: "Finished after the takeover." }]);
      const created = await createTask({ title: "long", prompt: "Take your time" });
      // Kill only once the first attempt's output is stored on the server: before that the
      // scripted model has not been asked yet, and the hang would go to the survivor instead.
      await c.readStream((e) => e.type === "output" && e.data.content === "Working on it");
      const running = await c.task(created.id);
      assert.equal(running.status, "running");
      const survivor = running.worker_id === "worker-a" ? "worker-b" : "worker-a";
      await c.killWorker(running.worker_id);

      const done = await c.finished(created.id).catch(async (err) => {
        console.log(JSON.stringify(await c.task(created.id)), c.workers.get(survivor)!.output().slice(-3000), c.server.output().slice(-2000));
        throw err;
      });
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(done.worker_id, survivor);
      assert.equal(done.attempts, 2);
      assert.equal(done.attempt_errors[0].reason, "lease_expired");
      assert.equal(done.attempt_errors[0].worker_id, running.worker_id);

      const stream = await untilComplete(done.id);
      const mine = stream.filter((e) => e.data.task_id === done.id || e.data.session_id === running.session_id || e.data.session_id === done.session_id);
      assert.equal(mine.filter((e) => e.type === "complete").length, 1, "one complete");
      const outputs = mine
        .filter((e) => e.type === "output")
        .map((e) => e.data.content)
        .join("");
      assert.equal(outputs, "Working on itFinished after the takeover.", "attempt 1's acknowledged output once, then attempt 2's");
      assert.ok(mine.some((e) => e.type === "status" && e.data.status === "requeued"));
      contiguous(stream);
      await c.spawnWorker(running.worker_id); // back to two workers
      await c.online([running.worker_id]);
    });

    test("the server killed and restarted mid-task loses nothing; the worker keeps its lease", { timeout: 240_000 }, async () => {
      const text = Array.from({ length: 40 }, (_, i) => `chunk${i} `).join("");
      c.llm.setScript([{ text, chunks: 40, chunkDelayMs: 150 }]);
      const created = await createTask({ title: "stream", prompt: "Stream a lot" });
      await c.readStream((e) => e.type === "output" && e.data.content.includes("chunk"));
      await c.restartServer();

      const done = await c.finished(created.id);
      assert.equal(done.status, "completed", JSON.stringify(done));
      assert.equal(done.attempts, 1, "no second attempt");
      const stream = await untilComplete(done.id);
      const outputs = stream
        .filter((e) => e.data.session_id === done.session_id && e.type === "output")
        .map((e) => e.data.content)
        .join("");
      assert.equal(outputs, text, "every chunk once, in order");
      contiguous(stream);
    });

    test("cancelling a running task aborts its agent on the worker", { timeout: 180_000 }, async () => {
      c.llm.setScript([{ hangMs: 120_000, text: "Busy" }]);
      const created = await createTask({ title: "cancel me", prompt: "Never finish" });
      await c.readStream((e) => e.type === "output" && e.data.content === "Busy");
      const cancel = await c.api("POST", `/v1/opencode/tasks/${created.id}/cancel`);
      assert.equal(cancel.status, 200);
      assert.equal(cancel.body.cancel_requested, true);
      const done = await c.finished(created.id, 60_000);
      assert.equal(done.status, "cancelled");
      const stream = await untilComplete(done.id);
      assert.equal(stream.at(-1)!.data.status, "cancelled");
    });

    test("a worker the server forgot (its row gone, as after a move to a new database) registers again on its next heartbeat", {
      timeout: 60_000,
    }, async () => {
      const db = postgres(c.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        await db`delete from workers where name = 'worker-a'`;
      } finally {
        await db.end();
      }
      const names = async () => ((await c.api("GET", "/v1/opencode/workers")).body as { name: string }[]).map((w) => w.name);
      assert.ok(!(await names()).includes("worker-a"), "the server no longer knows worker-a");
      // Its heartbeat (every 5 s) is answered 404, and the worker registers again, with its codebases.
      await c.online(["worker-a"]);
      const list = (await c.api("GET", "/v1/opencode/workers")).body as { name: string; codebases: { name: string }[] }[];
      assert.deepEqual(
        list.find((w) => w.name === "worker-a")?.codebases.map((cb) => cb.name),
        ["app1"],
      );
    });

    test("worker calls need the worker token", async () => {
      for (const token of [null, apiKey, "nope"]) {
        const res = await fetch(`${c.server.url}/v1/opencode/worker/claim`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ name: "worker-a" }),
        });
        assert.equal(res.status, 401, String(token));
      }
      assert.equal((await c.api("GET", "/v1/opencode/workers", undefined, workerToken)).status, 401, "the worker token is not a client key");
    });
  }),
);
