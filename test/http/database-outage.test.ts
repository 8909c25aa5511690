/**
 * The database going away under a running server (real Postgres behind a TCP proxy
 * that the test takes down): clear 503s instead of 500s or hangs, open event streams
 * ride it out, and the server serves again on its own once the database is back.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import { createDb } from "../../src/db/client.js";
import { type RunningServer, startServer } from "../../src/server.js";
import type { AppRouter } from "../../src/trpc/router.js";
import { testConfig } from "../support/harness.js";
import { eventually } from "../support/processes.js";
import { type DroppingProxy, databaseBehindProxy } from "../support/proxy.js";
import { needs } from "../support/skip.js";
import { connectSse } from "../support/sse-client.js";

const baseUrl = process.env.DATABASE_URL?.trim();

describe(
  "the database goes away and comes back",
  {},
  needs(baseUrl ? false : "needs DATABASE_URL", () => {
    let proxy: DroppingProxy;
    let server: RunningServer;
    let drop: () => Promise<void>;
    let tmp: string;

    before(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-outage-"));
      const behind = await databaseBehindProxy(baseUrl!);
      ({ proxy, drop } = behind);
      const database = await createDb({ driver: "postgres", url: behind.url, maxConnections: 4 });
      server = await startServer({ config: testConfig({ dataDir: tmp, localConcurrency: 0 }), database });
    });
    after(async () => {
      proxy.up();
      await server.close(1000);
      await proxy.close();
      await drop();
      await rm(tmp, { recursive: true, force: true });
    });

    const request = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${server.url}${p}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { detail?: string; id?: string } };
    };

    test("503 with a detail while it is down, an open SSE stream survives, and service resumes without a restart", async () => {
      const codebase = await request("POST", "/v1/opencode/codebases", { name: "app", path: tmp });
      assert.equal(codebase.status, 201);
      const id = codebase.body.id!;
      await server.ctx.events.append(id, [{ type: "output", data: { session_id: "s", message_id: "m", part_id: "p", content: "before" } }]);
      const sse = await connectSse(`${server.url}/v1/opencode/codebases/${id}/events?last_event_id=0`);
      await sse.waitFor(1);

      proxy.down();
      const list = await request("GET", "/v1/opencode/codebases");
      assert.equal(list.status, 503, JSON.stringify(list.body));
      assert.match(list.body.detail!, /database is unavailable/);
      const create = await request("POST", `/v1/opencode/codebases/${id}/tasks`, { title: "t", prompt: "p" });
      assert.equal(create.status, 503);
      const trpc = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${server.url}/trpc`, transformer: superjson })] });
      const failure = await trpc.codebases.list.query().then(
        () => assert.fail("expected an error"),
        (err: unknown) => err,
      );
      assert.ok(failure instanceof TRPCClientError);
      assert.equal(failure.data?.code, "SERVICE_UNAVAILABLE");
      // A key the server must look up in the database it cannot reach: still tRPC's own error, with its code.
      const keyed = createTRPCClient<AppRouter>({
        links: [httpLink({ url: `${server.url}/trpc`, transformer: superjson, headers: { authorization: `Bearer ctk_${"a".repeat(12)}_${"b".repeat(43)}` } })],
      });
      const unknown = await keyed.codebases.list.query().then(
        () => assert.fail("expected an error"),
        (err: unknown) => err,
      );
      assert.ok(unknown instanceof TRPCClientError);
      assert.equal(unknown.data?.code, "SERVICE_UNAVAILABLE", String(unknown));
      assert.equal((await fetch(`${server.url}/health`)).status, 200, "the process itself is alive");

      proxy.up();
      await eventually(async () => ((await request("GET", "/v1/opencode/codebases")).status === 200 ? true : undefined), 30_000, "service to resume");
      assert.equal((await request("POST", `/v1/opencode/codebases/${id}/tasks`, { title: "t", prompt: "p" })).status, 201);
      await server.ctx.events.append(id, [{ type: "output", data: { session_id: "s", message_id: "m", part_id: "p", content: "after" } }]);
      const events = await sse.waitFor(2);
      assert.deepEqual(
        events.map((e) => JSON.parse(e.data).content),
        ["before", "after"],
        "the open stream carried on where it was",
      );
      sse.close();
    });
  }),
);
