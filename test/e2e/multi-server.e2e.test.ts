/**
 * Two server processes on one Postgres: a run triggered through one is streamed
 * live, with the same ids, by the other (LISTEN/NOTIFY hint, then a read of the log).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createDb } from "../../src/db/client.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { type ServerProcess, startCli } from "../support/cli.js";
import { createPostgresDatabase, type TestDriver } from "../support/db.js";
import { needs } from "../support/skip.js";
import { connectSse, type SseConnection } from "../support/sse-client.js";

const baseUrl = process.env.DATABASE_URL?.trim();

describe(
  "a second server process on the same Postgres",
  { timeout: 300_000 },
  needs(baseUrl ? false : "needs DATABASE_URL", () => {
    let a: AgentServer;
    let b: ServerProcess;
    let drop: () => Promise<void>;

    before(async () => {
      const created = await createPostgresDatabase(baseUrl!);
      drop = created.drop;
      const shared: TestDriver = {
        name: "postgres",
        create: async () => ({ database: await createDb({ driver: "postgres", url: created.url }), url: created.url, drop: async () => {} }),
      };
      a = await startAgentServer(shared);
      b = await startCli(["serve", "--port", "0"], { DATABASE_URL: created.url, CODETETHER_API_KEY: "" });
    });
    after(async () => {
      b.child.kill("SIGTERM");
      await b.exited;
      await a.close();
      await drop();
    });

    async function untilComplete(sse: SseConnection) {
      for (let n = 1; ; n++) {
        const events = await sse.waitFor(n);
        if (events[n - 1]!.event === "complete") return events;
      }
    }

    test("streams the run live with the same ids as the server that runs it", async () => {
      const dir = await a.sandbox.createCodebase("shared");
      const cb = await a.api("POST", "/v1/opencode/codebases", { name: "shared", path: dir });
      assert.equal(cb.status, 201);
      const onB = await connectSse(`${b.url}/v1/opencode/codebases/${cb.body.id}/events?last_event_id=0`);
      const onA = await connectSse(`${a.server.url}/v1/opencode/codebases/${cb.body.id}/events?last_event_id=0`);
      assert.equal(onB.status, 200);

      a.llm.setScript([
        { tool: "write", args: { filePath: "x.txt", content: "x\n" } },
        { text: "Done on A.", chunks: 3 },
      ]);
      const trigger = await a.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "write x.txt" });
      assert.equal(trigger.status, 202);

      const [fromA, fromB] = await Promise.all([untilComplete(onA), untilComplete(onB)]);
      onA.close();
      onB.close();
      assert.deepEqual(
        fromB.map((e) => [e.id, e.event, e.data]),
        fromA.map((e) => [e.id, e.event, e.data]),
      );
      assert.ok(fromB.some((e) => e.event === "file_change"));

      // B serves the session A ran, from the shared database.
      const res = await fetch(`${b.url}/v1/opencode/codebases/${cb.body.id}/sessions/${trigger.body.session_id}`);
      const session = (await res.json()) as { status: string; messages: unknown[] };
      assert.equal(session.status, "completed");
      assert.equal(session.messages.length, 3);
    });
  }),
);
