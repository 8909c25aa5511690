/**
 * The models list tells the truth, and runs end right: the real OpenCode with its
 * providers in an opencode.json (CODETETHER_OPENCODE_CONFIG), scripted models on
 * loopback, and a real `codetether-worker` process with a provider the server lacks.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createCodeTetherClient } from "../../sdk/src/index.js";
import { findOpencodeBinary } from "../../src/opencode/binary.js";
import { freePort } from "../../src/opencode/process.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { testConfig } from "../support/harness.js";
import { opencodeConfig } from "../support/opencode-sandbox.js";
import { eventually, killOpencodeOn, startWorker, type WorkerProcess } from "../support/processes.js";
import { connectSse, type SseConnection } from "../support/sse-client.js";

const timeout = 180_000;

/** The sandbox's config plus more OpenAI-compatible providers, each with one model. */
function configWith(llmUrl: string, extra: Record<string, string>) {
  const base = opencodeConfig(llmUrl);
  const provider: Record<string, unknown> = { ...base.provider };
  for (const [id, url] of Object.entries(extra)) {
    provider[id] = {
      npm: "@ai-sdk/openai-compatible",
      name: `Provider ${id}`,
      options: { baseURL: url, apiKey: `${id}-secret-key` },
      models: { [`${id}-model`]: { name: `${id} model`, tool_call: true, limit: { context: 32000, output: 2048 } } },
    };
  }
  return { ...base, enabled_providers: ["fake", ...Object.keys(extra)], provider };
}

describe("OpenCode booting in the background at start-up", { timeout: 120_000 }, () => {
  test("a server closed while its OpenCode is still booting leaves no OpenCode behind", async () => {
    for (let i = 0; i < 3; i++) {
      const s = await startAgentServer(undefined, { waitForOpencode: false });
      const port = s.server.ctx.config.opencode.port;
      await s.close(); // at once: OpenCode takes a second or two to boot
      const left = (() => {
        try {
          return execFileSync("pgrep", ["-f", `serve --hostname 127.0.0.1 --port ${port}`], { encoding: "utf8" }).trim();
        } catch {
          return "";
        }
      })();
      assert.equal(left, "", `opencode serve on port ${port} outlived its server`);
    }
  });
});

describe("a trigger while OpenCode is still booting", { timeout: 180_000 }, () => {
  test("answers 202 at once as starting; the run begins when OpenCode is up and the SDK follows it to the end", async () => {
    // An opencode that does not boot until the test opens its gate, so the triggers surely land while it starts.
    const dir = await mkdtemp(path.join(os.tmpdir(), "ct-slowboot-"));
    const slow = path.join(dir, "opencode");
    const gate = path.join(dir, "gate");
    await writeFile(slow, `#!/bin/sh\nwhile [ ! -e "${gate}" ]; do sleep 0.05; done\nexec "${findOpencodeBinary(undefined)}" "$@"\n`);
    await chmod(slow, 0o755);
    const s = await startAgentServer(undefined, { config: { opencode: { ...testConfig().opencode, binary: slow } }, waitForOpencode: false });
    try {
      const code = await s.sandbox.createCodebase("boot");
      const cb = await s.api("POST", "/v1/opencode/codebases", { name: "boot", path: code });
      assert.equal(s.server.ctx.bridge.connection.status().state, "starting");
      s.llm.setScript([{ text: "Ran once OpenCode was up." }]);
      const asked = performance.now();
      const trigger = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "hi", model: "fake/fake-model" });
      const answeredMs = performance.now() - asked;
      assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
      assert.equal(trigger.body.status, "starting");
      assert.equal(trigger.body.session_id, null);
      assert.match(trigger.body.run_id, /^[0-9a-f-]{36}$/);
      console.log(`trigger during OpenCode's boot answered in ${answeredMs.toFixed(0)} ms`);
      assert.equal(s.server.ctx.bridge.connection.status().state, "starting", "still booting when it answered");

      const client = createCodeTetherClient({ url: s.server.url });
      const run = await client.trigger(cb.body.id, { prompt: "and again", model: "fake/fake-model", new_session: true });
      assert.equal(run.response.status, "starting");
      s.llm.setScript([{ text: "Ran once OpenCode was up." }, { text: "Second run." }]);
      await writeFile(gate, ""); // now OpenCode boots
      const result = await run.wait();
      assert.equal(result.complete.status, "completed");
      const first = result.events[0]!;
      assert.equal(first.type, "status");
      assert.equal((first.data as { run_id?: string }).run_id, run.response.run_id);
      const session = (first.data as { session_id: string }).session_id;
      assert.ok(
        result.events.every((e) => e.data.session_id === session),
        "only that run's events",
      );
    } finally {
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("models, providers and how runs end, with the real OpenCode", { timeout: 900_000 }, () => {
  let s: AgentServer;
  let codebaseId: string;
  let dir: string;
  const eventsUrl = () => `${s.server.url}/v1/opencode/codebases/${codebaseId}/events`;

  before(async () => {
    s = await startAgentServer(undefined, { providerConfigFile: true });
    dir = await s.sandbox.createCodebase("app");
    // In its own directory: these runs are about models and how runs end, not where they write, and a worktree
    // per new session adds OpenCode's first-prompt setup of each new directory to every test.
    const res = await s.api("POST", "/v1/opencode/codebases", { name: "app", path: dir, agent_config: { max_retry_seconds: 4, isolation: "none" } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    codebaseId = res.body.id;
  });
  after(() => s.close());

  /** Reads until an event matches; returns every event so far. */
  async function untilMatch(sse: SseConnection, match: (type: string, data: Record<string, unknown>) => boolean) {
    for (let n = 1; ; n++) {
      const events = await sse.waitFor(n);
      const last = events[n - 1]!;
      if (last.event && match(last.event, JSON.parse(last.data))) return events;
    }
  }
  const until = (sse: SseConnection, type: string, session?: string) => untilMatch(sse, (t, d) => t === type && (!session || d.session_id === session));
  const untilRetrying = (sse: SseConnection) => untilMatch(sse, (t, d) => t === "status" && d.status === "retrying");

  test("OpenCode starts at start-up, before any trigger: /status goes from starting to ready on its own", { timeout }, async () => {
    const first = await s.api("GET", "/v1/opencode/status");
    assert.ok(["starting", "ready"].includes(first.body.opencode_server.state), first.body.opencode_server.state);
    const ready = await eventually(
      async () => {
        const st = await s.api("GET", "/v1/opencode/status");
        return st.body.opencode_server.state === "ready" ? st.body : undefined;
      },
      60_000,
      "OpenCode ready",
    );
    assert.equal(ready.opencode_server.mode, "managed");
    const readiness = await s.api("GET", "/ready");
    assert.equal(readiness.status, 200, JSON.stringify(readiness.body));
    assert.deepEqual(readiness.body, { status: "ready", database: "ok", opencode: "ok" });
    assert.equal(JSON.stringify(ready).includes("fake-key"), false, "no provider key in /status");
  });

  test("the configured scripted model is listed as available on the server and is the default; the page's ten stay, unavailable", { timeout }, async () => {
    // OpenCode's first provider read can take longer than the list waits for (a second): until then the list says so.
    const list = await eventually(
      async () => {
        const res = await s.api("GET", "/v1/opencode/models");
        assert.equal(res.status, 200);
        return res.body.default ? res.body : undefined;
      },
      30_000,
      "the server's models",
    );
    assert.equal(list.default, "fake/fake-model");
    assert.equal(list.recommended, "fake/fake-model");
    assert.equal(list.message, undefined);
    const fake = list.models[0];
    assert.equal(fake.id, "fake/fake-model");
    assert.equal(fake.provider, "fake");
    assert.equal(fake.name, "Fake Model");
    assert.equal(fake.available, true);
    assert.deepEqual(fake.available_on, ["server"]);
    assert.equal(fake.capabilities.tool_call, true);
    assert.equal(fake.capabilities.context_tokens, 128000);
    assert.equal(fake.capabilities.output_tokens, 4096);
    const listed = list.models.filter((m: { id: string }) => m.id !== "fake/fake-model");
    assert.equal(listed.length, 10);
    assert.ok(listed.every((m: { available: boolean; available_on: string[] }) => !m.available && m.available_on.length === 0));
    assert.ok(list.models.some((m: { id: string }) => m.id === "anthropic/claude-sonnet-4-20250514"));
    assert.equal(JSON.stringify(list).includes("fake-key"), false, "provider options (keys) never leave the server");
  });

  test("a model nothing can run is a 422 naming the models that can, for triggers and tasks", { timeout }, async () => {
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "hi", model: "anthropic/claude-sonnet-4-20250514" });
    assert.equal(trigger.status, 422);
    assert.match(trigger.body.detail, /anthropic\/claude-sonnet-4-20250514/);
    assert.match(trigger.body.detail, /fake\/fake-model/);
    const task = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "t", prompt: "p", model: "openai/gpt-4o" });
    assert.equal(task.status, 422);
    assert.match(task.body.detail, /Models that can: fake\/fake-model/);

    // A task that names no model runs the codebase's default: checked the same way, and queued with it when it can run.
    const defaults = async (name: string, model: string) => {
      const dir = await s.sandbox.createCodebase(name);
      const res = await s.api("POST", "/v1/opencode/codebases", { name, path: dir, agent_config: { default_model: model, default_agent: "plan" } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    };
    const unrunnable = await s.api("POST", `/v1/opencode/codebases/${await defaults("default-gpt", "openai/gpt-4o")}/tasks`, { title: "t", prompt: "p" });
    assert.equal(unrunnable.status, 422);
    assert.match(unrunnable.body.detail, /openai\/gpt-4o/);
    const runnableCodebase = await defaults("default-fake", "fake/fake-model");
    // The server's runner may take them before the cancels below: answered from a script of their own, never a later test's.
    s.llm.setScriptFor("queued on a default model", [{ text: "ok" }, { text: "ok" }]);
    const queued = await s.api("POST", `/v1/opencode/codebases/${runnableCodebase}/tasks/batch`, {
      tasks: [
        { title: "first", prompt: "queued on a default model", priority: -100 },
        { title: "second", prompt: "queued on a default model", agent_type: "build", priority: -100 },
      ],
    });
    assert.equal(queued.status, 201, JSON.stringify(queued.body));
    assert.deepEqual(
      queued.body.tasks.map((t: { title: string; model: string; agent_type: string }) => [t.title, t.model, t.agent_type]),
      [
        ["first", "fake/fake-model", "plan"],
        ["second", "fake/fake-model", "build"],
      ],
    );
    for (const t of queued.body.tasks) await s.api("POST", `/v1/opencode/tasks/${t.id}/cancel`);
  });

  test("a provider that refuses connections ends the run failed within max_retry_seconds, with retrying status events", { timeout }, async () => {
    const refused = `http://127.0.0.1:${await freePort()}/v1`;
    await writeFile(s.configFile!, JSON.stringify(configWith(s.llm.url, { dead: refused })));
    // Applied without a restart of CodeTether: the next read of the models sees the new provider.
    await eventually(
      async () => {
        const list = (await s.api("GET", "/v1/opencode/models")).body;
        return list.models.some((m: { id: string; available: boolean }) => m.id === "dead/dead-model" && m.available) ? true : undefined;
      },
      60_000,
      "the new provider listed",
    );

    const sse = await connectSse(eventsUrl());
    const started = Date.now();
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "hello?", model: "dead/dead-model", new_session: true });
    assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
    const events = await until(sse, "complete", trigger.body.session_id);
    sse.close();
    const seconds = (Date.now() - started) / 1000;
    const complete = JSON.parse(events.at(-1)!.data);
    assert.equal(complete.status, "failed", JSON.stringify(complete));
    assert.ok(seconds < 60, `ended after ${seconds} s, well inside a minute (window 4 s)`);
    const errors = events.filter((e) => e.event === "error").map((e) => JSON.parse(e.data));
    assert.ok(errors.length > 0, "an error says why");
    const retries = events.filter((e) => e.event === "status" && JSON.parse(e.data).status === "retrying").map((e) => JSON.parse(e.data));
    if (retries.length > 0) {
      // OpenCode retried: each retry is shown with its reason and next attempt, and the window ended it.
      assert.ok(
        retries.every((r) => typeof r.message === "string" && typeof r.next_attempt_at === "string"),
        JSON.stringify(retries),
      );
      assert.equal(errors.at(-1).name === "ProviderUnavailable" || errors.some((e) => e.name === "ProviderUnavailable"), true, JSON.stringify(errors));
      assert.match(complete.error, /max_retry_seconds/);
    }
    const log = JSON.stringify(events);
    assert.equal(log.includes("dead-secret-key"), false, "no provider key in events");
  });

  test("a provider that keeps failing (503): retries show as status events, and the window fails the run", { timeout }, async () => {
    s.llm.setScript(Array.from({ length: 50 }, () => ({ error: { status: 503, message: "upstream overloaded" } })));
    const sse = await connectSse(eventsUrl());
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "hi", model: "fake/fake-model", new_session: true });
    assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
    const events = await until(sse, "complete", trigger.body.session_id);
    sse.close();
    const retry = events.map((e) => JSON.parse(e.data)).find((d) => d.status === "retrying");
    assert.ok(retry, "a retrying status event");
    assert.equal(retry.message, "upstream overloaded");
    assert.equal(retry.attempt, 1);
    assert.ok(!Number.isNaN(Date.parse(retry.next_attempt_at)));
    const complete = JSON.parse(events.at(-1)!.data);
    assert.equal(complete.status, "failed");
    assert.match(complete.error, /upstream overloaded/);
    const session = await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${trigger.body.session_id}`);
    assert.equal(session.body.status, "failed");
  });

  test("aborting a run while OpenCode waits between retries ends it aborted, not completed", { timeout }, async () => {
    await s.api("PATCH", `/v1/opencode/codebases/${codebaseId}`, { agent_config: { max_retry_seconds: 600, isolation: "none" } });
    s.llm.setScript(Array.from({ length: 50 }, () => ({ error: { status: 503, message: "still overloaded" } })));
    const sse = await connectSse(eventsUrl());
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "hi", model: "fake/fake-model", new_session: true });
    const sessionId = trigger.body.session_id;
    await untilRetrying(sse);
    const abort = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}/abort`);
    assert.equal(abort.status, 202, JSON.stringify(abort.body));
    const events = await until(sse, "complete", sessionId);
    sse.close();
    assert.equal(JSON.parse(events.at(-1)!.data).status, "aborted");
    const session = await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}`);
    assert.equal(session.body.status, "aborted");
  });

  test("cancelling a task while OpenCode waits between retries ends it cancelled", { timeout }, async () => {
    s.llm.setScript(Array.from({ length: 50 }, () => ({ error: { status: 503, message: "overloaded for the task" } })));
    const sse = await connectSse(eventsUrl());
    const created = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: "retrying task", prompt: "hi", model: "fake/fake-model" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await untilRetrying(sse);
    const cancel = await s.api("POST", `/v1/opencode/tasks/${created.body.id}/cancel`);
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    const task = await eventually(
      async () => {
        const t = (await s.api("GET", `/v1/opencode/tasks/${created.body.id}`)).body;
        return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
      },
      60_000,
      "the task ends",
    );
    sse.close();
    assert.equal(task.status, "cancelled", JSON.stringify(task));
  });

  describe("a worker with a model the server lacks", () => {
    let worker: WorkerProcess;
    let shared: string;
    before(async () => {
      shared = await s.sandbox.createCodebase("shared");
      const registered = await s.api("POST", "/v1/opencode/codebases", { name: "shared", path: shared });
      assert.equal(registered.status, 201);
      const env = await s.sandbox.machineEnv("w1");
      env.OPENCODE_CONFIG_CONTENT = JSON.stringify(configWith(s.llm.url, { remote: s.llm.url }));
      worker = startWorker(["--server", s.server.url, "--name", "w1", "--codebase", `shared:${shared}`], env, await freePort());
    });
    after(async () => {
      worker.child.kill("SIGTERM");
      await worker.exited;
      killOpencodeOn(worker.opencodePort);
    });

    test("it reports its models; the list says where each runs; its task goes to it alone", { timeout }, async () => {
      const list = await eventually(
        async () => {
          const l = (await s.api("GET", "/v1/opencode/models")).body;
          return l.models.some((m: { id: string }) => m.id === "remote/remote-model") ? l : undefined;
        },
        90_000,
        "the worker's models listed",
      );
      const remote = list.models.find((m: { id: string }) => m.id === "remote/remote-model");
      assert.deepEqual(remote.available_on, ["w1"]);
      assert.equal(remote.capabilities.context_tokens, 32000);
      const fake = list.models.find((m: { id: string }) => m.id === "fake/fake-model");
      assert.deepEqual(fake.available_on, ["server", "w1"]);
      const workers = (await s.api("GET", "/v1/opencode/workers")).body;
      assert.ok(workers[0].models.includes("remote/remote-model"));
      assert.equal(JSON.stringify(list).includes("remote-secret-key"), false);

      s.llm.setScript([{ text: "Ran on the worker's provider." }]);
      const sharedId = (await s.api("GET", "/v1/opencode/codebases")).body.find((c: { name: string }) => c.name === "shared").id;
      const created = await s.api("POST", `/v1/opencode/codebases/${sharedId}/tasks`, { title: "remote", prompt: "hi", model: "remote/remote-model" });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const done = await eventually(
        async () => {
          const t = (await s.api("GET", `/v1/opencode/tasks/${created.body.id}`)).body;
          return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
        },
        120_000,
        "the worker's task ends",
      );
      assert.equal(done.status, "completed", `${JSON.stringify(done)}\n${worker.output().slice(-2000)}`);
      assert.equal(done.worker_id, "w1", "the server's own runner cannot run it and did not take it");
      assert.equal(done.result, "Ran on the worker's provider.");
    });
  });
});
