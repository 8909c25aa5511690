/**
 * Fault tests with real processes: a server and two `codetether-worker`s, each
 * worker with its own real `opencode serve`, on the real Postgres.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../../src/opencode/process.js";
import type { ServerProcess } from "../support/cli.js";
import { createPostgresDatabase } from "../support/db.js";
import { type FakeLlm, startFakeLlm } from "../support/fake-llm.js";
import { createOpencodeSandbox, type OpencodeSandbox } from "../support/opencode-sandbox.js";
import { eventually, killOpencodeOn, startServerProcess, startWorker, type WorkerProcess } from "../support/processes.js";

const baseUrl = process.env.DATABASE_URL?.trim();
const apiKey = "client-key";
const workerToken = "worker-token";

describe("workers and the server as separate processes", { skip: baseUrl ? false : "needs DATABASE_URL", timeout: 900_000 }, () => {
  let llm: FakeLlm;
  let sandbox: OpencodeSandbox;
  let drop: () => Promise<void>;
  let dbUrl: string;
  let port: number;
  let server: ServerProcess;
  let dir: string;
  let codebaseId: string;
  const workers = new Map<string, WorkerProcess>();

  const serverEnv = () => ({
    DATABASE_URL: dbUrl,
    CODETETHER_API_KEY: apiKey,
    CODETETHER_WORKER_TOKEN: workerToken,
    CODETETHER_TASK_LEASE_SECONDS: "3",
    CODETETHER_LOCAL_CONCURRENCY: "0",
  });
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const task = (id: string) => api("GET", `/v1/opencode/tasks/${id}`).then((r) => r.body);

  async function spawnWorker(name: string) {
    const w = startWorker(
      ["--server", server.url, "--name", name, "--codebase", `app1:${dir}`, "--token", workerToken],
      await sandbox.machineEnv(name),
      await freePort(),
    );
    workers.set(name, w);
    return w;
  }

  before(async () => {
    llm = await startFakeLlm();
    sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
    dir = await sandbox.createCodebase("app1");
    const created = await createPostgresDatabase(baseUrl!);
    dbUrl = created.url;
    drop = created.drop;
    port = await freePort();
    server = await startServerProcess(port, serverEnv());
    // Registered by a client, with no worker: any worker that has "app1" may run its tasks.
    const cb = await api("POST", "/v1/opencode/codebases", { name: "app1", path: dir });
    assert.equal(cb.status, 201);
    codebaseId = cb.body.id;
    await spawnWorker("worker-a");
    await spawnWorker("worker-b");
    await eventually(async () => {
      const list = (await api("GET", "/v1/opencode/workers")).body as { name: string; status: string }[];
      return list.filter((w) => w.status === "online").length === 2 ? true : undefined;
    }, 60_000, "two workers online");
  });

  after(async () => {
    for (const w of workers.values()) {
      w.child.kill("SIGKILL");
      killOpencodeOn(w.opencodePort);
    }
    server.child.kill("SIGKILL");
    await server.exited;
    await drop();
    await llm.close();
    await sandbox.cleanup();
  });

  /** Waits, over SSE, until an `output` event of the task's session is in the codebase's stream. */
  async function firstOutputStored(taskId: string) {
    const { connectSse } = await import("../support/sse-client.js");
    const sse = await connectSse(`${server.url}/v1/opencode/codebases/${codebaseId}/events`, { authorization: `Bearer ${apiKey}` });
    try {
      for (let n = 1; ; n++) {
        const e = (await sse.waitFor(n))[n - 1]!;
        if (e.event === "output" && JSON.parse(e.data).session_id === (await task(taskId)).session_id) return;
      }
    } finally {
      sse.close();
    }
  }

  /** Reads the codebase's stream over SSE from the start until the task's `complete`. */
  async function streamUntilComplete(taskId: string) {
    const { connectSse } = await import("../support/sse-client.js");
    const sse = await connectSse(`${server.url}/v1/opencode/codebases/${codebaseId}/events`, { authorization: `Bearer ${apiKey}` });
    for (let n = 1; ; n++) {
      const all = await sse.waitFor(n);
      const last = all[n - 1]!;
      if (last.event === "complete" && JSON.parse(last.data).task_id === taskId) {
        sse.close();
        return all.map((e) => ({ id: Number(e.id), type: e.event!, data: JSON.parse(e.data) }));
      }
    }
  }

  test("a task queued for the codebase runs on a worker and its events reach the server in order", { timeout: 180_000 }, async () => {
    llm.setScript([{ tool: "write", args: { filePath: "from-worker.txt", content: "worker wrote this\n" } }, { text: "Done on the worker." }]);
    const created = await api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "write a file", prompt: "Write from-worker.txt", agent_type: "build", priority: 1 });
    assert.equal(created.status, 201);
    const done = await eventually(async () => {
      const t = await task(created.body.id);
      return ["completed", "failed"].includes(t.status) ? t : undefined;
    }, 120_000, "the task to finish");
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(done.attempts, 1);
    assert.match(done.worker_id, /^worker-[ab]$/);
    assert.match(done.session_id, /^ses_/);
    assert.equal(done.result, "Done on the worker.");
    assert.equal(await readFile(path.join(dir, "from-worker.txt"), "utf8"), "worker wrote this\n");

    const stream = await streamUntilComplete(done.id);
    const mine = stream.filter((e) => e.data.task_id === done.id || e.data.session_id === done.session_id);
    const types = mine.map((e) => e.type);
    assert.equal(types[0], "status", "claimed first");
    assert.ok(types.indexOf("tool_use") < types.indexOf("file_change"));
    assert.ok(types.indexOf("file_change") < types.lastIndexOf("output"));
    assert.equal(types.at(-1), "complete");
    assert.deepEqual(stream.map((e) => e.id), stream.map((_, i) => i + 1), "ids are contiguous from 1");
    const session = await api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${done.session_id}`);
    assert.equal(session.body.status, "completed");
  });

  test("a worker killed with SIGKILL mid-task: the other worker finishes it, every event once", { timeout: 240_000 }, async () => {
    llm.setScript([{ hangMs: 120_000, text: "Working on it" }, { text: "Finished after the takeover." }]);
    const created = await api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "long", prompt: "Take your time" });
    // Kill only once the first attempt's output is stored on the server: before that the
    // scripted model has not been asked yet, and the hang would go to the survivor instead.
    await firstOutputStored(created.body.id);
    const running = await task(created.body.id);
    assert.equal(running.status, "running");
    const victim = workers.get(running.worker_id)!;
    const survivor = running.worker_id === "worker-a" ? "worker-b" : "worker-a";
    victim.child.kill("SIGKILL");
    await victim.exited;
    killOpencodeOn(victim.opencodePort);

    const done = await eventually(async () => {
      const t = await task(created.body.id);
      return ["completed", "failed"].includes(t.status) ? t : undefined;
    }, 120_000, "the survivor to finish the task").catch(async (err) => {
      console.log(JSON.stringify(await task(created.body.id)), workers.get(survivor)!.output().slice(-3000), server.output().slice(-2000));
      throw err;
    });
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(done.worker_id, survivor);
    assert.equal(done.attempts, 2);
    assert.equal(done.attempt_errors[0].reason, "lease_expired");
    assert.equal(done.attempt_errors[0].worker_id, running.worker_id);

    const stream = await streamUntilComplete(done.id);
    const mine = stream.filter((e) => e.data.task_id === done.id || e.data.session_id === running.session_id || e.data.session_id === done.session_id);
    assert.equal(mine.filter((e) => e.type === "complete").length, 1, "one complete");
    const outputs = mine.filter((e) => e.type === "output").map((e) => e.data.content).join("");
    assert.equal(outputs, "Working on itFinished after the takeover.", "attempt 1's acknowledged output once, then attempt 2's");
    assert.ok(mine.some((e) => e.type === "status" && e.data.status === "requeued"));
    assert.deepEqual(stream.map((e) => e.id), stream.map((_, i) => i + 1));
    await spawnWorker(running.worker_id); // back to two workers
  });

  test("the server killed and restarted mid-task loses nothing; the worker keeps its lease", { timeout: 240_000 }, async () => {
    const text = Array.from({ length: 40 }, (_, i) => `chunk${i} `).join("");
    llm.setScript([{ text, chunks: 40, chunkDelayMs: 150 }]);
    const created = await api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "stream", prompt: "Stream a lot" });
    await eventually(async () => ((await task(created.body.id)).session_id ? true : undefined), 120_000, "the first events");
    server.child.kill("SIGKILL");
    await server.exited;
    await new Promise((r) => setTimeout(r, 1500));
    server = await startServerProcess(port, serverEnv());

    const done = await eventually(async () => {
      const t = await task(created.body.id);
      return ["completed", "failed"].includes(t.status) ? t : undefined;
    }, 120_000, "the task to finish after the restart");
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(done.attempts, 1, "no second attempt");
    const stream = await streamUntilComplete(done.id);
    const outputs = stream.filter((e) => e.data.session_id === done.session_id && e.type === "output").map((e) => e.data.content).join("");
    assert.equal(outputs, text, "every chunk once, in order");
    assert.deepEqual(stream.map((e) => e.id), stream.map((_, i) => i + 1));
  });

  test("cancelling a running task aborts its agent on the worker", { timeout: 180_000 }, async () => {
    llm.setScript([{ hangMs: 120_000, text: "Busy" }]);
    const created = await api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "cancel me", prompt: "Never finish" });
    await eventually(async () => ((await task(created.body.id)).session_id ? true : undefined), 120_000, "the task to run");
    const cancel = await api("POST", `/v1/opencode/tasks/${created.body.id}/cancel`);
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.cancel_requested, true);
    const done = await eventually(async () => {
      const t = await task(created.body.id);
      return t.status !== "running" ? t : undefined;
    }, 60_000, "the cancel to reach the worker");
    assert.equal(done.status, "cancelled");
    const stream = await streamUntilComplete(done.id);
    assert.equal(stream.at(-1)!.data.status, "cancelled");
  });

  test("worker calls need the worker token", async () => {
    for (const auth of [undefined, `Bearer ${apiKey}`, "Bearer nope"]) {
      const res = await fetch(`${server.url}/v1/opencode/worker/claim`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ name: "worker-a" }),
      });
      assert.equal(res.status, 401, String(auth));
    }
    const list = await fetch(`${server.url}/v1/opencode/workers`, { headers: { authorization: `Bearer ${workerToken}` } });
    assert.equal(list.status, 401, "the worker token is not a client key");
  });
});
