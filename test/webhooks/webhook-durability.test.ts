/**
 * The outbox's promises under failure: a server SIGKILLed while a delivery is in flight (the event stored, the
 * receiver not yet answered) leaves it to the next server, which sends it again with the same webhook-id; two
 * servers on one Postgres share the deliveries and never send one twice.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createDb, rowsOf } from "../../src/db/client.js";
import { createApp } from "../../src/http/app.js";
import { createServices, type Services } from "../../src/runtime.js";
import { createPostgresDatabase } from "../support/db.js";
import { type TestResponse, testConfig } from "../support/harness.js";
import { eventually, startServerProcess } from "../support/processes.js";
import { needs } from "../support/skip.js";
import { type Receiver, recordedDelivery, runTask, startReceiver } from "../support/webhooks.js";

const baseUrl = process.env.DATABASE_URL;

function over(url: string) {
  return (method: string, route: string, body?: unknown): Promise<TestResponse> =>
    fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

for (const driver of ["pglite", "postgres"] as const) {
  describe(
    `a server killed mid-delivery (${driver})`,
    needs(driver === "postgres" && !baseUrl ? "DATABASE_URL is not set" : false, () => {
      let receiver: Receiver;
      let tmp: string;
      let env: NodeJS.ProcessEnv;
      let dropDb = async () => {};
      before(async () => {
        receiver = await startReceiver();
        tmp = await mkdtemp(path.join(os.tmpdir(), "ct-hook-kill-"));
        env = {
          CODETETHER_DATA_DIR: tmp,
          DATABASE_URL: "",
          OPENCODE_AUTO_START: "false",
          OPENCODE_PORT: "9",
          CODETETHER_LOCAL_CONCURRENCY: "0",
          CODETETHER_WEBHOOK_ALLOW_PRIVATE: "127.0.0.1",
          CODETETHER_WEBHOOK_TIMEOUT_SECONDS: "1",
          CODETETHER_WEBHOOK_FIRST_RETRY_MS: "100",
          LOG_LEVEL: "info",
        };
        if (driver === "postgres") {
          const db = await createPostgresDatabase(baseUrl!);
          env.DATABASE_URL = db.url;
          dropDb = db.drop;
        }
      });
      after(async () => {
        await receiver.close();
        await dropDb();
        await rm(tmp, { recursive: true, force: true });
      });

      test("the next server sends the delivery again, with the same webhook-id", async () => {
        const first = await startServerProcess(0, env);
        const request = over(first.url);
        const created = await (await request("POST", "/v1/opencode/webhooks", { url: receiver.url, events: ["task.failed"] })).json();
        receiver.secret = created.secret;
        receiver.respond = () => "hold"; // the first attempt never gets its answer
        await runTask({ tmp, request }, "killed", "failed");
        const held = await eventually(async () => receiver.received[0], 15_000, "the first attempt");
        first.child.kill("SIGKILL");
        await first.exited;

        receiver.respond = () => 200;
        const second = await startServerProcess(0, env);
        try {
          // Its lease (1 s attempt + 5 s) lapses; then the second server sends it.
          await eventually(async () => (receiver.accepted().get(held.id) ? true : undefined), 30_000, "the delivery from the second server");
          assert.ok(
            receiver.received.every((r) => r.id === held.id && r.verified),
            "the same message, signed, both times",
          );
          assert.deepEqual(
            receiver.received.map((r) => r.type),
            ["task.failed", "task.failed"],
          );
          const detail = await recordedDelivery(over(second.url), created.id, held.id);
          assert.equal(detail.status, "succeeded");
          assert.equal(detail.attempts, 2, "the killed attempt counts: the next is attempt 2");
          assert.deepEqual(
            detail.log.map((a: { attempt: number }) => a.attempt),
            [2],
            "the killed attempt left no outcome",
          );
        } finally {
          second.child.kill("SIGTERM");
          await second.exited;
        }
        assert.match(second.output(), /listening on/);
      });
    }),
  );
}

describe(
  "two servers on one Postgres",
  needs(baseUrl ? false : "DATABASE_URL is not set", () => {
    let receiver: Receiver;
    const servers: Services[] = [];
    let drop = async () => {};
    let tmp: string;
    before(async () => {
      receiver = await startReceiver();
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-hook-two-"));
      const db = await createPostgresDatabase(baseUrl!);
      drop = db.drop;
      for (let i = 0; i < 2; i++) {
        const database = await createDb({ driver: "postgres", url: db.url });
        const config = testConfig({
          dataDir: tmp,
          localConcurrency: 0,
          webhooks: { timeoutMs: 5000, firstRetryMs: 100, retryWindowMs: 3_600_000, allowPrivate: ["127.0.0.1"] },
        });
        servers.push(await createServices({ database, config }));
      }
    });
    after(async () => {
      for (const s of servers) {
        await s.stop();
        await s.ctx.database.close();
      }
      await drop();
      await receiver.close();
      await rm(tmp, { recursive: true, force: true });
    });

    test("share the deliveries, and never send one twice", async () => {
      const app = createApp(servers[0]!.ctx);
      const request = (method: string, url: string, body?: unknown): Promise<TestResponse> =>
        Promise.resolve(
          app.request(url, { method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined }),
        );
      const hook = await (await request("POST", "/v1/opencode/webhooks", { url: receiver.url, events: ["run.started"] })).json();
      receiver.secret = hook.secret;
      // Slow answers keep attempts in flight, so both servers' dispatchers are at work at once.
      receiver.delayMs = 30;
      const count = 40;
      for (let i = 0; i < count; i++) await request("POST", `/v1/opencode/webhooks/${hook.id}/test`);
      await eventually(async () => (receiver.accepted().size === count ? true : undefined), 30_000, "every message");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(receiver.received.length, count, "no message was sent twice");
      for (const n of receiver.accepted().values()) assert.equal(n, 1);
      const { sql } = await import("drizzle-orm");
      const senders = await servers[0]!.ctx.database.db.execute(sql`select sent_by, count(*)::int as n from webhook_attempts group by sent_by`);
      const rows = rowsOf<{ sent_by: string; n: number }>(senders);
      assert.equal(
        rows.reduce((a, r) => a + r.n, 0),
        count,
        "one attempt per message",
      );
      assert.equal(rows.length, 2, `both servers sent some: ${JSON.stringify(rows)}`);
    });
  }),
);
