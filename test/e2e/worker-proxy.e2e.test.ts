/**
 * A real `codetether-worker` behind a real HTTP proxy that answers some calls with
 * its own HTML 502 page (an upstream hiccup): the worker must take that as "try
 * again", not lose its completion and let a finished task be run again.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freePort } from "../../src/opencode/process.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { type Gateway, startGateway } from "../support/gateway.js";
import { eventually, killOpencodeOn, startWorker, type WorkerProcess } from "../support/processes.js";

describe("a worker behind a proxy that answers 502 Bad Gateway pages", { timeout: 600_000 }, () => {
  let s: AgentServer;
  let gateway: Gateway;
  let worker: WorkerProcess;
  let codebaseId: string;
  before(async () => {
    // The worker runs the agent with its own OpenCode; the server needs none.
    s = await startAgentServer(undefined, { localConcurrency: 0, opencode: false });
    const dir = await s.sandbox.createCodebase("proxied");
    codebaseId = (await s.api("POST", "/v1/opencode/codebases", { name: "proxied", path: dir })).body.id;
    // The first three completion reports, the first two event uploads and every other claim hit a proxy error.
    const counts = new Map<string, number>();
    gateway = await startGateway(s.server.url, (method, path) => {
      const kind = path.endsWith("/complete") ? "complete" : path.endsWith("/events") ? "events" : path.endsWith("/claim") ? "claim" : null;
      if (method !== "POST" || !kind) return false;
      const n = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, n);
      return kind === "complete" ? n <= 3 : kind === "events" ? n <= 2 : n % 2 === 0;
    });
    worker = startWorker(
      ["--server", gateway.url, "--name", "behind-proxy", "--codebase", `proxied:${dir}`],
      await s.sandbox.machineEnv("proxied"),
      await freePort(),
    );
  });
  after(async () => {
    worker.child.kill("SIGTERM");
    await worker.exited;
    killOpencodeOn(worker.opencodePort);
    await gateway.close();
    await s.close();
  });

  test("HTML 502s on claim, event upload and completion are retried: the task completes once, on its first attempt", { timeout: 300_000 }, async () => {
    s.llm.setScript([{ text: "Done behind the proxy." }]);
    const created = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "proxied", prompt: "hi" });
    assert.equal(created.status, 201);
    const task = await eventually(
      async () => {
        const t = (await s.api("GET", `/v1/opencode/tasks/${created.body.id}`)).body;
        return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
      },
      120_000,
      "the task ends",
    );
    assert.equal(task.status, "completed", `${JSON.stringify(task)}\n${worker.output().slice(-3000)}`);
    assert.equal(task.attempts, 1, "never re-run");
    assert.equal(task.result, "Done behind the proxy.");
    assert.equal(gateway.injected.filter((p) => p.endsWith("/complete")).length, 3);
    assert.ok(gateway.injected.some((p) => p.endsWith("/events")));
    assert.match(worker.output(), /not a JSON answer/);
    const events = (await s.api("GET", `/v1/opencode/tasks/${created.body.id}`)).body;
    assert.equal(events.worker_id, "behind-proxy");
  });
});
