/**
 * The bridge with the real OpenCode CLI (pinned opencode-ai) against the scripted
 * model server: no network, no keys, a real agent writing real files.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sql } from "drizzle-orm";
import { OpencodeClient } from "../../src/opencode/client.js";
import { createContextInner } from "../../src/trpc/init.js";
import { appRouter } from "../../src/trpc/router.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { connectSse, type SseConnection } from "../support/sse-client.js";

const timeout = 120_000;

describe("OpenCode bridge end to end", { timeout: 600_000 }, () => {
  let s: AgentServer;
  let dir: string;
  let codebaseId: string;
  let sessionId: string;
  const eventsUrl = () => `${s.server.url}/v1/opencode/codebases/${codebaseId}/events`;

  before(async () => {
    s = await startAgentServer();
    dir = await s.sandbox.createCodebase("app");
    const res = await s.api("POST", "/v1/opencode/codebases", { name: "app", path: dir });
    assert.equal(res.status, 201);
    codebaseId = res.body.id;
  });
  after(() => s.close());

  /** Reads SSE messages until one of `type` for the session arrives. */
  async function until(sse: SseConnection, type: string, session?: string) {
    for (let n = 1; ; n++) {
      const events = await sse.waitFor(n);
      const last = events[n - 1]!;
      if (last.event === type && (!session || JSON.parse(last.data).session_id === session)) return events;
    }
  }

  test("a triggered build agent writes a file; SSE shows output, tool_use, file_change and complete in order", { timeout }, async () => {
    s.llm.setScript([
      { tool: "write", args: { filePath: "hello.txt", content: "hello from the agent\n" } },
      { text: "I created hello.txt with a greeting.", chunks: 4 },
    ]);
    const sse = await connectSse(`${eventsUrl()}?last_event_id=0`);
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, {
      prompt: "Create hello.txt with a greeting",
      agent: "build",
      model: "fake/fake-model",
    });
    assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
    assert.equal(trigger.body.status, "running");
    assert.equal(trigger.body.resumed, false);
    sessionId = trigger.body.session_id;
    assert.match(sessionId, /^ses_/);

    const events = await until(sse, "complete", sessionId);
    sse.close();
    const types = events.map((e) => e.event);
    const at = (t: string) => types.indexOf(t);
    assert.ok(at("tool_use") >= 0 && at("file_change") > at("tool_use"), types.join(","));
    assert.ok(at("output") > at("file_change"), types.join(","));
    assert.equal(types.at(-1), "complete");
    const ids = events.map((e) => Number(e.id));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      "ids increase",
    );

    const data = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(
      data.filter((d) => d.type === "tool_use").map((d) => d.status),
      ["pending", "running", "completed"],
    );
    assert.equal(data.find((d) => d.type === "tool_use" && d.status === "completed").tool, "write");
    assert.deepEqual(
      data.filter((d) => d.type === "file_change").map((d) => [d.action, d.path]),
      [["created", "hello.txt"]],
    );
    assert.equal(
      data
        .filter((d) => d.type === "output")
        .map((d) => d.content)
        .join(""),
      "I created hello.txt with a greeting.",
    );
    assert.ok(data.some((d) => d.type === "usage" && d.input_tokens === 10 && d.output_tokens === 5));
    assert.equal(data.at(-1).status, "completed");

    // The run worked in a worktree of its own: the file is there, on the run's branch, not in the codebase's tree.
    assert.equal(trigger.body.isolation, "worktree");
    assert.equal(await readFile(path.join(trigger.body.worktree.path, "hello.txt"), "utf8"), "hello from the agent\n");
    await assert.rejects(readFile(path.join(dir, "hello.txt")));
    // The prompt reached the model byte for byte.
    const prompted = s.llm.requests.find((r) => !r.title && JSON.stringify(r.messages).includes("Create hello.txt with a greeting"));
    assert.ok(prompted);

    const detail = await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}`);
    assert.equal(detail.status, 200);
    assert.equal(detail.body.status, "completed");
    assert.equal(detail.body.agent, "build");
    assert.equal(detail.body.model, "fake/fake-model");
    assert.deepEqual(
      detail.body.messages.map((m: { role: string }) => m.role),
      ["user", "assistant", "assistant"],
    );
    assert.equal(detail.body.messages[0].text, "Create hello.txt with a greeting");
    assert.equal(detail.body.message_count, 3);
  });

  test("a second trigger resumes the session; Last-Event-ID gets only the events missed", { timeout }, async () => {
    const head = await s.server.ctx.events.head(codebaseId);
    s.llm.setScript([{ text: "Second answer." }]);
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "And now?" });
    assert.equal(trigger.status, 202);
    assert.equal(trigger.body.session_id, sessionId);
    assert.equal(trigger.body.resumed, true);
    assert.equal(trigger.body.last_event_id, head);

    const sse = await connectSse(eventsUrl(), { "last-event-id": String(head) });
    const events = await until(sse, "complete", sessionId);
    sse.close();
    assert.equal(Number(events[0]!.id), head + 1, "starts right after the cursor");
    assert.equal(
      events
        .map((e) => JSON.parse(e.data))
        .filter((d) => d.type === "output")
        .map((d) => d.content)
        .join(""),
      "Second answer.",
    );

    const list = await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions`);
    assert.equal(list.body.length, 1);
    assert.equal(list.body[0].message_count, 5);
    assert.equal(list.body[0].status, "completed");

    const fresh = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "Start over", new_session: true });
    assert.equal(fresh.status, 202);
    assert.notEqual(fresh.body.session_id, sessionId);
    const sse2 = await connectSse(eventsUrl(), { "last-event-id": String(fresh.body.last_event_id) });
    await until(sse2, "complete", fresh.body.session_id);
    sse2.close();
  });

  test("sync imports a session made straight through OpenCode, and a second sync changes nothing", { timeout }, async () => {
    const status = await s.api("GET", "/v1/opencode/status");
    assert.equal(status.body.available, true);
    assert.equal(status.body.opencode_server.mode, "managed");
    const direct = new OpencodeClient(status.body.opencode_server.url);
    s.llm.setScript([{ text: "Made outside CodeTether." }]);
    const made = await direct.createSession(dir, { title: "outside" });
    await direct.promptAsync(dir, made.id, { agent: "build", model: { providerID: "fake", modelID: "fake-model" }, text: "hi from outside" });
    for (let i = 0; i < 600; i++) {
      const msgs = await direct.messages(dir, made.id);
      if (msgs.some((m) => m.info.role === "assistant" && m.info.time.completed)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const first = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/sessions/sync`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.imported, 1);
    const imported = first.body.sessions.find((x: { id: string }) => x.id === made.id);
    assert.equal(imported.source, "imported");
    assert.equal(imported.title, "outside");
    const detail = await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${made.id}`);
    assert.equal(detail.body.messages[0].text, "hi from outside");

    const second = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/sessions/sync`);
    assert.equal(second.body.imported, 0);
    assert.equal(second.body.updated, 0);
    assert.deepEqual(second.body.sessions, first.body.sessions);
  });

  test("abort stops a running agent: the run completes as aborted", { timeout }, async () => {
    s.llm.setScript([{ hangMs: 60_000, text: "Thinking" }]);
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "Think forever", new_session: true });
    assert.equal(trigger.status, 202);
    const sid = trigger.body.session_id;
    const sse = await connectSse(eventsUrl(), { "last-event-id": String(trigger.body.last_event_id) });
    await until(sse, "output", sid);
    const abort = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/sessions/${sid}/abort`);
    assert.equal(abort.status, 202);
    const events = await until(sse, "complete", sid);
    sse.close();
    assert.equal(JSON.parse(events.at(-1)!.data).status, "aborted");
    assert.equal((await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sid}`)).body.status, "aborted");
    const again = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/sessions/${sid}/abort`);
    assert.equal(again.status, 409);
  });

  test("permission requests reach clients, can be answered, and time out as denied", { timeout }, async () => {
    const askDir = await s.sandbox.createCodebase("ask", { "opencode.json": JSON.stringify({ permission: { edit: "ask" } }) });
    const cb = await s.api("POST", "/v1/opencode/codebases", {
      name: "ask",
      path: askDir,
      agent_config: { permission_timeout_seconds: 2 },
    });
    const url = `${s.server.url}/v1/opencode/codebases/${cb.body.id}/events`;

    s.llm.setScript([{ tool: "write", args: { filePath: "allowed.txt", content: "ok\n" } }, { text: "done" }]);
    const t1 = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "write allowed.txt" });
    const sse = await connectSse(url, { "last-event-id": String(t1.body.last_event_id) });
    const asked = JSON.parse((await until(sse, "permission", t1.body.session_id)).at(-1)!.data);
    assert.equal(asked.state, "asked");
    assert.equal(asked.permission, "edit");
    assert.equal(asked.timeout_seconds, 2);
    const answer = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/sessions/${t1.body.session_id}/permissions/${asked.permission_id}`, {
      reply: "once",
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const done = await until(sse, "complete", t1.body.session_id);
    sse.close();
    assert.deepEqual(
      done
        .map((e) => JSON.parse(e.data))
        .filter((d) => d.type === "permission")
        .map((d) => d.state),
      ["asked", "approved"],
    );
    assert.equal(JSON.parse(done.at(-1)!.data).status, "completed");
    assert.equal(await readFile(path.join(t1.body.worktree.path, "allowed.txt"), "utf8"), "ok\n");
    const unknown = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/sessions/${t1.body.session_id}/permissions/per_nope`, { reply: "once" });
    assert.equal(unknown.status, 404);

    // Nobody answers this one: it is denied after the codebase's 2 s timeout and the file is not written.
    s.llm.setScript([{ tool: "write", args: { filePath: "denied.txt", content: "no\n" } }, { text: "could not write" }]);
    const t2 = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "write denied.txt" });
    assert.equal(t2.body.session_id, t1.body.session_id, "resumed");
    assert.equal(t2.body.worktree.path, t1.body.worktree.path, "in its own worktree");
    const sse2 = await connectSse(url, { "last-event-id": String(t2.body.last_event_id) });
    const events = await until(sse2, "complete", t2.body.session_id);
    sse2.close();
    const mine = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(
      mine.filter((d) => d.type === "permission").map((d) => d.state),
      ["asked", "timed_out"],
    );
    assert.equal(mine.find((d) => d.type === "tool_use" && d.status === "error")?.tool, "write");
    await assert.rejects(readFile(path.join(t1.body.worktree.path, "denied.txt")));
  });

  test("with auto_approve the bridge answers permission requests itself", { timeout }, async () => {
    const autoDir = await s.sandbox.createCodebase("auto", { "opencode.json": JSON.stringify({ permission: { edit: "ask" } }) });
    // Without isolation, as before worktrees: the agent writes in the codebase's own directory.
    const cb = await s.api("POST", "/v1/opencode/codebases", { name: "auto", path: autoDir, agent_config: { auto_approve: true, isolation: "none" } });
    s.llm.setScript([{ tool: "write", args: { filePath: "auto.txt", content: "auto\n" } }, { text: "done" }]);
    const t = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "write auto.txt" });
    assert.equal(t.body.isolation, "none");
    assert.equal(t.body.isolation_reason, "agent_config.isolation is none");
    const sse = await connectSse(`${s.server.url}/v1/opencode/codebases/${cb.body.id}/events?last_event_id=0`);
    const events = await until(sse, "complete", t.body.session_id);
    sse.close();
    const data = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(
      data.filter((d) => d.type === "permission").map((d) => [d.state, d.reply]),
      [["approved", "once"]],
    );
    assert.equal(data.at(-1).status, "completed");
    assert.equal(await readFile(path.join(autoDir, "auto.txt"), "utf8"), "auto\n");
  });

  test("the tRPC sessions router runs the same verbs: trigger, follow with tracked ids, list, get", { timeout }, async () => {
    const trpc = appRouter.createCaller(createContextInner(s.server.ctx));
    s.llm.setScript([{ text: "Answered over tRPC.", chunks: 3 }]);
    const head = await s.server.ctx.events.head(codebaseId);
    const started = await trpc.sessions.trigger({ codebaseId, request: { prompt: "Over tRPC", new_session: true } });
    assert.equal(started.status, "running");
    assert.equal(started.last_event_id, head);
    assert.ok(started.session_id, "OpenCode was up: the session is named at once");
    const stream = await trpc.events.onCodebaseEvents({ codebaseId, sessionId: started.session_id!, lastEventId: String(head) });
    let said = "";
    let lastId = head;
    for await (const item of stream as AsyncIterable<unknown>) {
      const [id, event] = item as [string, { type: string; data: { content?: string; status?: string } }];
      assert.ok(Number(id) > lastId, "tracked ids increase");
      lastId = Number(id);
      if (event.type === "output") said += event.data.content;
      if (event.type === "complete") {
        assert.equal(event.data.status, "completed");
        break;
      }
    }
    assert.equal(said, "Answered over tRPC.");
    const detail = await trpc.sessions.get({ codebaseId, sessionId: started.session_id! });
    assert.equal(detail.status, "completed");
    assert.equal(detail.messages.at(-1)?.text, "Answered over tRPC.");
    assert.ok((await trpc.sessions.list({ codebaseId })).some((x) => x.id === started.session_id));
    const notRunning = await trpc.sessions.abort({ codebaseId, sessionId: started.session_id! }).catch((err: unknown) => err);
    assert.equal((notRunning as { code?: string }).code, "CONFLICT");
  });

  test("trigger rejects bad input with clear 4xx answers", async () => {
    const base = `/v1/opencode/codebases/${codebaseId}`;
    const cases: [unknown, number, RegExp][] = [
      [{ prompt: "x", agent: "hacker" }, 422, /agent/],
      [{ prompt: "x", model: "no-slash" }, 422, /provider\/model/],
      [{ prompt: "   " }, 422, /prompt must not be empty/],
      [{}, 422, /prompt/],
      [{ prompt: "x", session_id: "ses_unknown" }, 404, /^Session not found$/],
    ];
    for (const [body, status, detail] of cases) {
      const res = await s.api("POST", `${base}/trigger`, body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(res.body.detail, detail);
    }
    assert.equal((await s.api("POST", "/v1/opencode/codebases/nope/trigger", { prompt: "x" })).status, 404);
    const missing = await s.api("GET", `${base}/sessions/ses_unknown`);
    assert.deepEqual(missing, { status: 404, body: { detail: "Session not found" } });
    const worker = await s.api("POST", "/v1/opencode/codebases", { name: "remote", path: "/projects/remote", worker_id: "w1" });
    const onWorker = await s.api("POST", `/v1/opencode/codebases/${worker.body.id}/trigger`, { prompt: "x" });
    assert.equal(onWorker.status, 409);
    assert.match(onWorker.body.detail, /worker w1/);
  });

  test("a run whose session cannot be recorded is stopped: the trigger fails and the stream says the run failed", { timeout }, async () => {
    // The session's row is written while the prompt goes out; here the database refuses it (a trigger of its own).
    const db = s.server.ctx.database.db;
    await db.execute(
      sql`create function refuse_sessions() returns trigger language plpgsql as $$ begin raise exception 'sessions are read-only today'; end $$`,
    );
    await db.execute(sql`create trigger refuse_sessions before insert on sessions for each row execute function refuse_sessions()`);
    try {
      // Its own script: the aborted run's model request may reach the model server after the next test set its script.
      s.llm.setScriptFor("[refused-start]", [{ hangMs: 60_000, text: "Should not get far" }]);
      const sse = await connectSse(eventsUrl());
      const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "Refused [refused-start]", new_session: true });
      assert.equal(trigger.status, 500, JSON.stringify(trigger.body));
      const events = (await until(sse, "complete")).map((e) => JSON.parse(e.data));
      sse.close();
      const complete = events.at(-1)!;
      assert.equal(complete.status, "failed");
      assert.match(complete.error, /^The run's start could not be recorded: the database refused it/, "no SQL in what every reader sees");
      assert.equal(events[0].status, "running", "the run had begun");
      assert.equal(s.server.ctx.bridge.runner.isRunning(complete.session_id), false, "nothing of it is left running");
    } finally {
      await db.execute(sql`drop trigger refuse_sessions on sessions`);
      await db.execute(sql`drop function refuse_sessions()`);
    }
  });

  test("an OpenCode process killed mid-run yields an error event and a failed session, then it is restarted", { timeout }, async () => {
    // A script of its own, which no late request of an earlier run can take: the run must still be working when killed.
    s.llm.setScriptFor("[killed-mid-run]", [{ hangMs: 60_000, text: "Working" }]);
    const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "Work [killed-mid-run]", new_session: true });
    const sid = trigger.body.session_id;
    const sse = await connectSse(eventsUrl(), { "last-event-id": String(trigger.body.last_event_id) });
    await until(sse, "output", sid);
    const { pid } = (await s.api("GET", "/v1/opencode/status")).body.opencode_server;
    process.kill(-pid, "SIGKILL");
    const events = await until(sse, "complete", sid);
    sse.close();
    const data = events.map((e) => JSON.parse(e.data));
    assert.ok(
      data.some((d) => d.type === "error"),
      `an error event: ${JSON.stringify(data.map((d) => (d.type === "complete" ? d : d.type)))}`,
    );
    assert.equal(data.at(-1).status, "failed");
    assert.equal((await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sid}`)).body.status, "failed");

    // The supervisor brings OpenCode back; the next trigger works.
    s.llm.setScript([{ text: "Back again." }]);
    let next: Awaited<ReturnType<typeof s.api>> | undefined;
    for (let i = 0; i < 120; i++) {
      next = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "Still there?", new_session: true });
      if (next.status === 202) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(next!.status, 202, JSON.stringify(next!.body));
    const sse2 = await connectSse(eventsUrl(), { "last-event-id": String(next!.body.last_event_id) });
    const after = await until(sse2, "complete", next!.body.session_id);
    sse2.close();
    assert.equal(JSON.parse(after.at(-1)!.data).status, "completed");
    const status = (await s.api("GET", "/v1/opencode/status")).body.opencode_server;
    assert.ok(status.restarts >= 1);
    assert.notEqual(status.pid, pid);
    await writeFile(path.join(dir, ".done"), "");
  });
});
