/**
 * Webhooks end to end over the public API: a real receiver on loopback verifies every signature with the
 * `standardwebhooks` library; the events come from a task run over the worker protocol, as a
 * `codetether-worker` sends them. Retries until a failing receiver recovers (each event accepted exactly once
 * by webhook-id), the delivery log and redelivery, an endpoint disabled after failing for its whole window,
 * SSRF refusals, and worker.offline announced once.
 */
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import os from "node:os";
import { after, before, describe, test } from "node:test";
import { announceOfflineWorkers } from "../../src/services/tasks/workers.js";
import { AddressPolicy, sendWebhook, urlRefusal } from "../../src/services/webhooks/send.js";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";
import { eventually } from "../support/processes.js";
import { allTypes, type Receiver, recordedDelivery, runTask, startReceiver } from "../support/webhooks.js";

// biome-ignore lint/suspicious/noExplicitAny: test code reads arbitrary JSON
type Message = { type: string; timestamp: string; data: Record<string, any> };

/** Fast retries, short attempts, and loopback allowed (the receiver lives there). */
const webhookSettings = (over: Partial<Harness["ctx"]["config"]["webhooks"]> = {}) => ({
  localConcurrency: 0,
  webhooks: { timeoutMs: 2000, firstRetryMs: 50, retryWindowMs: 3_600_000, allowPrivate: ["127.0.0.1"], ...over },
});

async function register(h: Harness, receiver: Receiver, body: Record<string, unknown> = {}) {
  const res = await h.request("POST", "/v1/opencode/webhooks", { url: receiver.url, events: allTypes, ...body });
  assert.equal(res.status, 201, await res.clone().text());
  const hook = await res.json();
  receiver.secret = hook.secret;
  return hook;
}

for (const driver of testDrivers()) {
  describe(`webhooks (${driver.name})`, () => {
    let h: Harness;
    let receiver: Receiver;
    before(async () => {
      h = await createHarness(driver, webhookSettings());
      receiver = await startReceiver();
    });
    after(async () => {
      await h.close();
      await receiver.close();
    });

    test("a run's events arrive signed (Standard Webhooks), with ids and links and no secret; the secret is shown once", async () => {
      const hook = await register(h, receiver);
      assert.match(hook.secret, /^whsec_[A-Za-z0-9+/=]{32}$/);
      const listed = await (await h.request("GET", "/v1/opencode/webhooks")).json();
      assert.equal(listed.length, 1);
      assert.equal(listed[0].secret, undefined, "the list never shows the secret");

      const run = await runTask(h, "signed", "failed");
      const wanted = ["run.started", "run.permission_requested", "budget.exceeded", "diff.ready", "run.failed", "task.failed"];
      await eventually(async () => (wanted.every((t) => receiver.received.some((r) => r.type === t)) ? true : undefined), 15_000, "every event type");
      for (const r of receiver.received) {
        assert.ok(r.verified, `${r.type}: the signature verifies with the standardwebhooks library`);
        assert.match(r.id, /^msg_[0-9a-f]{32}$/);
        assert.ok(Math.abs(Number(r.timestamp) - Date.now() / 1000) < 60);
        assert.ok(!JSON.stringify(r.body).includes(hook.secret), "no secret in a payload");
      }
      const byType = (t: string) => receiver.received.find((r) => r.type === t)!.body as Message;
      const failed = byType("run.failed");
      assert.equal(failed.data.codebase_id, run.codebaseId);
      assert.equal(failed.data.session_id, run.sessionId);
      assert.equal(failed.data.task_id, run.taskId);
      assert.equal(failed.data.error, "it broke");
      assert.equal(typeof failed.data.event_id, "number", "the stream position, to read the run's events from");
      assert.equal(failed.data.links.session, `/v1/opencode/codebases/${run.codebaseId}/sessions/${run.sessionId}`);
      assert.equal(failed.data.links.task, `/v1/opencode/tasks/${run.taskId}`);
      assert.equal(
        byType("run.permission_requested").data.links.permission,
        `/v1/opencode/codebases/${run.codebaseId}/sessions/${run.sessionId}/permissions/per_1`,
      );
      assert.equal(byType("diff.ready").data.links.diff, `/v1/opencode/codebases/${run.codebaseId}/sessions/${run.sessionId}/diff`);
      assert.equal(byType("run.started").data.agent, "build");
      // The delivery log says what happened.
      const log = await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json();
      assert.ok(log.length >= wanted.length);
      await eventually(
        async () =>
          (await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json()).every((d: { status: string }) => d.status === "succeeded")
            ? true
            : undefined,
        10_000,
        "every delivery recorded as succeeded",
      );
      const one = (await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json())[0];
      assert.equal(one.last_status_code, 200);
      assert.equal(typeof one.last_duration_ms, "number");
      assert.equal(one.next_attempt_at, null);
      await h.request("DELETE", `/v1/opencode/webhooks/${hook.id}`);
      receiver.received.length = 0;
    });

    test("event types and codebases filter what an endpoint gets", async () => {
      const other = await startReceiver();
      try {
        const a = await runTask(h, "filter-a", "completed");
        await register(h, other, { events: ["task.completed"], codebase_ids: [a.codebaseId] });
        const b = await runTask(h, "filter-b", "completed");
        await runTask(h, "filter-c", "completed");
        const c = await h.request("POST", "/v1/opencode/webhooks/none/test");
        assert.equal(c.status, 404);
        // Only task.completed of filter-a's codebase, which has none after registration: nothing comes; a test comes.
        const hooks = await (await h.request("GET", "/v1/opencode/webhooks")).json();
        const test = await h.request("POST", `/v1/opencode/webhooks/${hooks[0].id}/test`);
        assert.equal(test.status, 202);
        await eventually(async () => (other.received.some((r) => r.type === "webhook.test") ? true : undefined), 10_000, "the test message");
        assert.deepEqual(
          other.received.map((r) => r.type),
          ["webhook.test"],
          `nothing of ${b.codebaseId} nor of other types`,
        );
        assert.ok(other.received[0]!.verified);
        await h.request("DELETE", `/v1/opencode/webhooks/${hooks[0].id}`);
      } finally {
        await other.close();
      }
    });

    test("a receiver that fails, then recovers, gets every event exactly once by webhook-id; the log shows each attempt; redeliver sends the same id", async () => {
      const flaky = await startReceiver();
      try {
        flaky.respond = (_r, n) => (n <= 4 ? 503 : 200);
        const hook = await register(h, flaky);
        await runTask(h, "flaky", "failed");
        const expected = 6; // started, permission, budget, diff, run.failed, task.failed
        await eventually(async () => (flaky.accepted().size === expected ? true : undefined), 20_000, "every event accepted");
        await new Promise((r) => setTimeout(r, 300)); // nothing more is on its way
        assert.equal(flaky.accepted().size, expected);
        for (const [id, n] of flaky.accepted()) assert.equal(n, 1, `${id} accepted once`);
        assert.ok(flaky.received.filter((r) => r.answered === 503).length === 4);
        const retried = flaky.received.find((r) => r.answered === 503)!.id;
        const detail = await recordedDelivery(h.request, hook.id, retried);
        assert.equal(detail.status, "succeeded");
        assert.ok(detail.log.length >= 2, "a failed attempt and the one that succeeded");
        assert.equal(detail.log[0].status_code, 503);
        assert.match(detail.log[0].error, /answered 503: not now/);
        assert.equal(detail.log.at(-1).status_code, 200);

        const again = await h.request("POST", `/v1/opencode/webhooks/${hook.id}/deliveries/${retried}/redeliver`);
        assert.equal(again.status, 202);
        await eventually(async () => (flaky.accepted().get(retried) === 2 ? true : undefined), 10_000, "the redelivery");
        const audit = await (await h.request("GET", "/v1/opencode/audit?action=webhook.redeliver")).json();
        assert.equal(audit[0].target_id, retried);
        await h.request("DELETE", `/v1/opencode/webhooks/${hook.id}`);
      } finally {
        await flaky.close();
      }
    });

    test("redirects are not followed; a worker going offline is announced once", async () => {
      const moving = await startReceiver();
      try {
        moving.respond = (r) => (r.type === "webhook.test" ? 302 : 200);
        const hook = await register(h, moving, { events: ["worker.offline"] });
        await h.request("POST", `/v1/opencode/webhooks/${hook.id}/test`);
        await eventually(
          async () => {
            const items = await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json();
            return items[0]?.last_status_code === 302 ? items[0] : undefined;
          },
          10_000,
          "the redirect recorded",
        ).then((d) => assert.match(d.last_error, /redirects are not followed/));
        assert.ok(!moving.received.some((r) => r.type !== "webhook.test"), "the Location was not requested");

        await h.request("POST", "/v1/opencode/worker/register", { name: "quiet-worker", codebases: [] });
        await h.ctx.database.db.execute(
          (await import("drizzle-orm")).sql`update workers set last_heartbeat_at = now() - interval '2 minutes' where name = 'quiet-worker'`,
        );
        assert.ok((await announceOfflineWorkers({ ctx: h.ctx })) >= 1);
        assert.equal(await announceOfflineWorkers({ ctx: h.ctx }), 0, "announced once");
        await eventually(async () => (moving.received.some((r) => r.type === "worker.offline") ? true : undefined), 10_000, "worker.offline");
        const offline = moving.received.find((r) => r.type === "worker.offline")!;
        assert.equal((offline.body as Message).data.worker, "quiet-worker");
        await h.request("DELETE", `/v1/opencode/webhooks/${hook.id}`);
      } finally {
        await moving.close();
      }
    });

    test("bad registrations are refused with a reason", async () => {
      const cases: [unknown, RegExp][] = [
        [{ url: "ftp://example.com/x", events: ["run.failed"] }, /http or https/],
        [{ url: "http://169.254.169.254/latest/meta-data", events: ["run.failed"] }, /linkLocal/],
        [{ url: "http://10.1.2.3/hook", events: ["run.failed"] }, /private/],
        [{ url: "http://[::1]:8080/hook", events: ["run.failed"] }, /loopback/],
        [{ url: "https://user:pw@example.com/", events: ["run.failed"] }, /user name or password/],
        [{ url: "https://example.com/", events: [] }, /at least one event type/],
        [{ url: "https://example.com/", events: ["run.exploded"] }, /events/],
        [{ url: "https://example.com/", events: ["run.failed"], codebase_ids: ["nope"] }, /no codebase nope/],
        [{ url: "not a url", events: ["run.failed"] }, /absolute http/],
      ];
      for (const [body, why] of cases) {
        const res = await h.request("POST", "/v1/opencode/webhooks", body);
        assert.ok(res.status === 422 || res.status === 400, `${JSON.stringify(body)}: ${res.status}`);
        assert.match((await res.json()).detail, why, JSON.stringify(body));
      }
    });
  });
}

describe("webhook addresses (SSRF)", () => {
  const policy = new AddressPolicy([]);
  test("loopback, link-local, private and unique-local addresses are refused unless allowed", () => {
    for (const a of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.1.1",
      "169.254.169.254",
      "::1",
      "fe80::1",
      "fd00::1",
      "0.0.0.0",
      "::ffff:127.0.0.1",
      "100.64.0.1",
    ])
      assert.ok(policy.refusal(a), a);
    for (const a of ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]) assert.equal(policy.refusal(a), null, a);
    assert.match(urlRefusal(new URL("http://localhost:8080/"), policy) ?? "", /loopback/);
    assert.match(urlRefusal(new URL("http://app.localhost/"), policy) ?? "", /loopback/);
    assert.equal(urlRefusal(new URL("https://hooks.example.com/x"), policy), null, "a name is checked when connecting");
    const allowing = new AddressPolicy(["127.0.0.1", "10.0.0.0/8"]);
    assert.equal(allowing.refusal("127.0.0.1"), null);
    assert.equal(allowing.refusal("10.9.8.7"), null);
    assert.ok(allowing.refusal("192.168.1.1"));
  });

  test("a name that resolves to a refused address is refused when connecting, not only when registered", async (t) => {
    const host = os.hostname();
    const { address } = await lookup(host);
    if (!policy.refusal(address)) return t.skip(`${host} resolves to a public address (${address}) on this machine`);
    const receiver = await startReceiver();
    try {
      const port = new URL(receiver.url).port;
      const result = await sendWebhook(
        { url: `http://${host}:${port}/hook`, secret: "whsec_AAAA" },
        { id: "msg_x", body: "{}" },
        { timeoutMs: 2000, policy, userAgent: "test" },
      );
      assert.equal(result.statusCode, null);
      assert.match(result.error!, new RegExp(`refused: ${host} resolves to`));
      assert.equal(receiver.received.length, 0);
    } finally {
      await receiver.close();
    }
  });
});

/** Called in a suite: a harness with the given webhook settings and a receiver that answers 500, around the suite. */
function failingReceiver(over: Partial<Harness["ctx"]["config"]["webhooks"]>) {
  const suite = {} as { h: Harness; receiver: Receiver };
  before(async () => {
    suite.h = await createHarness(testDrivers()[0]!, webhookSettings(over));
    suite.receiver = await startReceiver();
    suite.receiver.respond = () => 500;
  });
  after(async () => {
    await suite.h.close();
    await suite.receiver.close();
  });
  return suite;
}

/** The endpoint, once the server has disabled it. */
function disabledEndpoint(h: Harness, id: string) {
  return eventually(
    async () => {
      const w = await (await h.request("GET", `/v1/opencode/webhooks/${id}`)).json();
      return w.enabled ? undefined : w;
    },
    20_000,
    "the endpoint disabled",
  );
}

describe("an endpoint failing for its whole retry window", () => {
  const suite = failingReceiver({ retryWindowMs: 1500, firstRetryMs: 100 });

  test("is disabled, says why, and the audit trail tells an admin; enabled again, it gets new events", async () => {
    const { h, receiver } = suite;
    const hook = await register(h, receiver);
    await runTask(h, "broken", "completed");
    const disabled = await disabledEndpoint(h, hook.id);
    assert.match(disabled.disabled_reason, /failed for the whole retry window/);
    assert.ok(disabled.failing_since);
    const audit = await (await h.request("GET", "/v1/opencode/audit?action=webhook.disabled")).json();
    assert.equal(audit[0].target_id, hook.id);
    assert.equal(audit[0].actor, "system");
    const gaveUp = await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries?status=failed`)).json();
    assert.ok(gaveUp.length > 0, "deliveries older than the window are given up");

    receiver.respond = () => 200;
    // An attempt in flight when it was disabled may still finish; nothing new is recorded (so nothing is sent) for it.
    const recorded = (await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json()).length;
    await runTask(h, "broken-later", "completed");
    await new Promise((r) => setTimeout(r, 500));
    const after = await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json();
    assert.equal(after.length, recorded, "a disabled endpoint gets no new deliveries");
    const enabled = await (await h.request("PATCH", `/v1/opencode/webhooks/${hook.id}`, { enabled: true })).json();
    assert.equal(enabled.enabled, true);
    assert.equal(enabled.failing_since, null);
    await runTask(h, "mended", "completed");
    await eventually(async () => (receiver.accepted().size > 0 ? true : undefined), 10_000, "new events, sent");
  });
});

describe("an endpoint whose only delivery fails for its whole window", () => {
  // A window shorter than the first retry: the delivery is given up at its first failure, and no later attempt ever
  // comes a whole window after the endpoint's first failure. The give-up itself must decide.
  const suite = failingReceiver({ retryWindowMs: 100, firstRetryMs: 1000 });

  test("is disabled when that delivery is given up", async () => {
    const { h, receiver } = suite;
    const hook = await register(h, receiver, { events: ["task.completed"] });
    await runTask(h, "one-event", "completed");
    const disabled = await disabledEndpoint(h, hook.id);
    assert.match(disabled.disabled_reason, /failed for the whole retry window/);
    const deliveries = await (await h.request("GET", `/v1/opencode/webhooks/${hook.id}/deliveries`)).json();
    assert.deepEqual(
      deliveries.map((d: { status: string }) => d.status),
      ["failed"],
    );
  });
});
