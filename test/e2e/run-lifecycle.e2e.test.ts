/**
 * A triggered run outlives neither a clean shutdown nor a crash of its server
 * process without an end on record: the real `codetether serve` on its embedded
 * database, the real OpenCode, the scripted model.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../../src/opencode/process.js";
import { type ServerProcess, startCli } from "../support/cli.js";
import { type FakeLlm, startFakeLlm } from "../support/fake-llm.js";
import { createOpencodeSandbox, type OpencodeSandbox } from "../support/opencode-sandbox.js";
import { killOpencodeOn } from "../support/processes.js";
import { connectSse } from "../support/sse-client.js";

describe("triggered runs across server shutdowns and crashes", { timeout: 600_000 }, () => {
  let llm: FakeLlm;
  let sandbox: OpencodeSandbox;
  let dataDir: string;
  let opencodePort: number;
  let server: ServerProcess;
  let codebaseId: string;

  const start = async () => {
    server = await startCli(["serve", "--port", "0"], {
      ...sandbox.env,
      CODETETHER_DATA_DIR: dataDir,
      DATABASE_URL: "",
      OPENCODE_HOST: "127.0.0.1",
      OPENCODE_PORT: String(opencodePort),
    });
  };
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  /** The codebase's stream from the start until `stop` is true of an event. */
  const readUntil = async (stop: (type: string, data: Record<string, unknown>) => boolean) => {
    const sse = await connectSse(`${server.url}/v1/opencode/codebases/${codebaseId}/events?last_event_id=0`);
    try {
      for (let n = 1; ; n++) {
        const e = (await sse.waitFor(n))[n - 1]!;
        if (stop(e.event!, JSON.parse(e.data))) return sse.events.map((m) => ({ type: m.event!, data: JSON.parse(m.data) }));
      }
    } finally {
      sse.close();
    }
  };
  /** Triggers a run that hangs after its first words, and waits until those are stored. */
  const triggerHanging = async (words: string) => {
    llm.setScript([{ hangMs: 300_000, text: words }]);
    const t = await api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "Hang", new_session: true });
    assert.equal(t.status, 202, JSON.stringify(t.body));
    const events = await readUntil((type, data) => type === "output" && data.content === words);
    // Right after a start OpenCode may still be booting: the answer then names no session, its run's events do.
    return (t.body.session_id ?? events.at(-1)!.data.session_id) as string;
  };

  before(async () => {
    llm = await startFakeLlm();
    sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
    dataDir = await mkdtemp(path.join(os.tmpdir(), "ct-lifecycle-"));
    opencodePort = await freePort();
    await start();
    const dir = await sandbox.createCodebase("app");
    codebaseId = (await api("POST", "/v1/opencode/codebases", { name: "app", path: dir })).body.id;
  });
  after(async () => {
    server.child.kill("SIGKILL");
    await server.exited;
    killOpencodeOn(opencodePort);
    await llm.close();
    await sandbox.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("SIGTERM mid-run: the run ends as aborted, on record before the process exits", { timeout: 180_000 }, async () => {
    const sessionId = await triggerHanging("Working before the shutdown");
    server.child.kill("SIGTERM");
    assert.equal((await server.exited).code, 0, server.output());
    await start();
    const session = await api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}`);
    assert.equal(session.body.status, "aborted");
    assert.match(session.body.error, /shut down/);
    const events = await readUntil((type, data) => type === "complete" && data.session_id === sessionId);
    const mine = events.filter((e) => e.data.session_id === sessionId).map((e) => [e.type, e.data.name ?? e.data.status]);
    // The run's worktree is committed and its diff recorded on the way out, before its end.
    assert.deepEqual(mine.slice(-3), [
      ["error", "ServerShutdown"],
      ["diff", undefined],
      ["complete", "aborted"],
    ]);
  });

  test("queued follow-ups survive a restart: the next server runs them as the session's next turns", { timeout: 180_000 }, async () => {
    const sessionId = await triggerHanging("Working before the restart");
    const queued = await api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt: "After the restart", session_id: sessionId, queue: true });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.equal(queued.body.status, "queued");
    llm.setScript([{ text: "Done after the restart" }]);
    server.child.kill("SIGTERM");
    assert.equal((await server.exited).code, 0, server.output());
    await start();
    // The shutdown aborted the running turn; the queued one is the session's next, started by the new process.
    const events = await readUntil((type, data) => type === "complete" && data.run_id === queued.body.run_id);
    const end = events.at(-1)!;
    assert.equal(end.data.status, "completed");
    assert.equal(end.data.session_id, sessionId);
    const list = await api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}/queue`);
    assert.deepEqual(
      list.body.map((q: { status: string }) => q.status),
      ["started"],
    );
  });

  test("SIGKILL mid-run: the restarted server records the run as failed instead of running forever", { timeout: 180_000 }, async () => {
    const sessionId = await triggerHanging("Working before the crash");
    server.child.kill("SIGKILL");
    await server.exited;
    killOpencodeOn(opencodePort); // it runs in its own process group and outlives a SIGKILLed parent
    await start();
    const session = await api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}`);
    assert.equal(session.body.status, "failed");
    const events = await readUntil((type, data) => type === "complete" && data.session_id === sessionId);
    const ends = events.filter((e) => e.data.session_id === sessionId && (e.type === "complete" || e.type === "error"));
    assert.deepEqual(
      ends.map((e) => [e.type, e.data.name ?? e.data.status]),
      [
        ["error", "RunLost"],
        ["complete", "failed"],
      ],
    );
  });
});
