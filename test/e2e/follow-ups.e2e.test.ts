/**
 * Follow-ups sent while a session runs (`queue: true`): accepted with 202, listed on the session, edited or
 * removed before they start, run in order as the session's next turns by the real OpenCode, and cancelled by an
 * abort. (That they survive a restart is in run-lifecycle.e2e.test.ts, which restarts real server processes.)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { eventually } from "../support/processes.js";
import { connectSse } from "../support/sse-client.js";

describe("queued follow-ups", { timeout: 300_000 }, () => {
  let a: AgentServer;
  let codebaseId: string;
  let base: string;

  before(async () => {
    a = await startAgentServer();
    const dir = await a.sandbox.createCodebase("follow");
    codebaseId = (await a.api("POST", "/v1/opencode/codebases", { name: "follow", path: dir, agent_config: { isolation: "none" } })).body.id;
    base = `/v1/opencode/codebases/${codebaseId}`;
  });
  after(() => a.close());

  /** The user prompts OpenCode sent the model, in order (its title requests aside). */
  const promptsSeen = () =>
    a.llm.requests
      .filter((r) => !r.title)
      .map((r) => {
        const user = r.messages.filter((m) => m.role === "user").at(-1)?.content;
        return typeof user === "string" ? user : JSON.stringify(user);
      });

  test("run in order as the session's next turns; edited and removed ones as the user left them; without queue, 409", async () => {
    a.llm.setScript([{ hangMs: 2500, text: "first answer" }, { text: "second answer" }, { text: "third answer" }]);
    const first = await a.api("POST", `${base}/trigger`, { prompt: "Turn one", new_session: true });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.status, "running");
    const sessionId = first.body.session_id as string;
    const sse = await connectSse(`${a.server.url}${base}/events?session_id=${sessionId}&last_event_id=${first.body.last_event_id}`);
    try {
      const refused = await a.api("POST", `${base}/trigger`, { prompt: "Too soon", session_id: sessionId });
      assert.equal(refused.status, 409, "without queue, a running session still refuses");

      const second = await a.api("POST", `${base}/trigger`, { prompt: "Turn two", session_id: sessionId, queue: true });
      assert.equal(second.status, 202, JSON.stringify(second.body));
      assert.equal(second.body.status, "queued");
      assert.equal(second.body.position, 1);
      assert.equal(second.body.queued_prompt.status, "queued");
      const third = await a.api("POST", `${base}/trigger`, { prompt: "Turn three", session_id: sessionId, queue: true });
      assert.equal(third.body.position, 2);
      const dropped = await a.api("POST", `${base}/trigger`, { prompt: "Never mind", session_id: sessionId, queue: true });
      assert.equal(dropped.body.position, 3);

      const listed = await a.api("GET", `${base}/sessions/${sessionId}/queue`);
      assert.deepEqual(
        listed.body.map((q: { prompt: string }) => q.prompt),
        ["Turn two", "Turn three", "Never mind"],
      );
      const session = await a.api("GET", `${base}/sessions/${sessionId}`);
      assert.equal(session.body.queued.length, 3, "the session lists what waits");

      const edited = await a.api("PATCH", `${base}/sessions/${sessionId}/queue/${third.body.queued_prompt.id}`, { prompt: "Turn three, edited" });
      assert.equal(edited.status, 200, JSON.stringify(edited.body));
      assert.equal(edited.body.prompt, "Turn three, edited");
      const removed = await a.api("DELETE", `${base}/sessions/${sessionId}/queue/${dropped.body.queued_prompt.id}`);
      assert.equal(removed.status, 200);

      // Three turns end, in order, each with its own run_id.
      const events = await eventually(
        async () => {
          const completes = sse.events.filter((e) => e.event === "complete");
          return completes.length >= 3 ? sse.events : undefined;
        },
        120_000,
        "three turns",
      );
      const ends = events.filter((e) => e.event === "complete").map((e) => JSON.parse(e.data) as { status: string; run_id: string });
      assert.deepEqual(
        ends.map((e) => e.status),
        ["completed", "completed", "completed"],
      );
      assert.deepEqual(
        ends.map((e) => e.run_id),
        [first.body.run_id, second.body.run_id, third.body.run_id],
      );
      assert.deepEqual(promptsSeen(), ["Turn one", "Turn two", "Turn three, edited"]);

      const after = await a.api("GET", `${base}/sessions/${sessionId}/queue`);
      assert.deepEqual(
        after.body.map((q: { prompt: string; status: string }) => [q.prompt, q.status]),
        [
          ["Turn two", "started"],
          ["Turn three, edited", "started"],
        ],
      );
      const late = await a.api("PATCH", `${base}/sessions/${sessionId}/queue/${third.body.queued_prompt.id}`, { prompt: "too late" });
      assert.equal(late.status, 409, "a started prompt cannot be changed");
      const none = await a.api("DELETE", `${base}/sessions/${sessionId}/queue/qp_nope`);
      assert.equal(none.status, 404);
      // Idle now: queue: true just runs.
      a.llm.setScript([{ text: "fourth answer" }]);
      const now = await a.api("POST", `${base}/trigger`, { prompt: "Turn four", session_id: sessionId, queue: true });
      assert.equal(now.body.status, "running");
      await eventually(async () => (sse.events.filter((e) => e.event === "complete").length >= 4 ? true : undefined), 60_000, "the fourth turn");
    } finally {
      sse.close();
    }
  });

  test("an abort cancels what is queued behind the run", async () => {
    a.llm.setScript([{ hangMs: 300_000, text: "working for a long time" }, { text: "must not run" }]);
    const run = await a.api("POST", `${base}/trigger`, { prompt: "Long turn", new_session: true });
    const sessionId = run.body.session_id as string;
    const sse = await connectSse(`${a.server.url}${base}/events?session_id=${sessionId}&last_event_id=${run.body.last_event_id}`);
    try {
      await eventually(async () => (sse.events.some((e) => e.event === "output") ? true : undefined), 60_000, "the run's first words");
      const queued = await a.api("POST", `${base}/trigger`, { prompt: "After the long turn", session_id: sessionId, queue: true });
      assert.equal(queued.body.status, "queued");
      const aborted = await a.api("POST", `${base}/sessions/${sessionId}/abort`);
      assert.equal(aborted.status, 202);
      await eventually(async () => (sse.events.some((e) => e.event === "complete") ? true : undefined), 60_000, "the abort");
      assert.equal(JSON.parse(sse.events.find((e) => e.event === "complete")!.data).status, "aborted");
      const list = await a.api("GET", `${base}/sessions/${sessionId}/queue`);
      assert.deepEqual(
        list.body.map((q: { status: string }) => q.status),
        ["cancelled"],
      );
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(!promptsSeen().includes("After the long turn"), "the cancelled prompt never reached the model");
    } finally {
      sse.close();
    }
  });
});
