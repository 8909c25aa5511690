/** What an operator reads: request ids, the structured log with secrets scrubbed, and /metrics behind its token. */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createLogger } from "../../src/observability/log.js";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

const key = "client-key-for-metrics";
const metricsToken = "scraper-token-123";

/** A logger writing JSON lines into an array, as a log shipper would read them. */
function capture(secrets: string[]) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) {
      raw.push(line);
      lines.push(JSON.parse(line));
    }
  });
  return { log: createLogger({ name: "codetether", level: "debug", secrets, destination: stream }), lines, raw };
}

describe("request ids, logs and metrics", () => {
  let h: Harness;
  let open: Harness;
  let logged: ReturnType<typeof capture>;
  before(async () => {
    logged = capture([key, metricsToken]);
    h = await createHarness(pgliteDriver, { apiKey: key, metricsToken, localConcurrency: 0 }, undefined, logged.log);
    open = await createHarness(pgliteDriver);
  });
  after(async () => {
    await h.close();
    await open.close();
  });
  const auth = { authorization: `Bearer ${key}` };

  test("every answer carries a request id: the client's when it is a sane token, a new one otherwise", async () => {
    const mine = await h.request("GET", "/v1/opencode/codebases", undefined, { ...auth, "x-request-id": "req-abc.123" });
    assert.equal(mine.headers.get("x-request-id"), "req-abc.123");
    const made = await h.request("GET", "/v1/opencode/codebases", undefined, auth);
    assert.match(made.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    const hostile = await h.request("GET", "/v1/opencode/codebases", undefined, { ...auth, "x-request-id": "bad id\twith spaces" });
    assert.notEqual(hostile.headers.get("x-request-id"), "bad id\twith spaces");
    const refused = await h.request("GET", "/v1/opencode/codebases");
    assert.equal(refused.status, 401);
    assert.ok(refused.headers.get("x-request-id"), "a refusal has an id too");
  });

  test("one JSON line per request, with the route's pattern, status, duration and id; secrets never appear", async () => {
    const made = await h.request("POST", "/v1/opencode/codebases", { name: "obs", path: h.tmp }, { ...auth, "x-request-id": "req-create-1" });
    assert.equal(made.status, 201);
    const id = ((await made.json()) as { id: string }).id;
    await h.request("GET", `/v1/opencode/codebases/${id}`, undefined, { ...auth, "x-request-id": "req-get-1" });
    await h.request("GET", "/v1/opencode/codebases", undefined, { authorization: `Bearer ${key}-wrong` });
    const line = logged.lines.find((l) => l.req_id === "req-get-1")!;
    assert.equal(line.msg, "request");
    assert.equal(line.method, "GET");
    assert.equal(line.status, 200);
    assert.match(String(line.route), /^\/v1\/opencode\/codebases\/(:id|\{id\})$/, "the pattern, not the id");
    assert.equal(typeof line.ms, "number");
    // A secret inside any message is scrubbed by value, and secret-named fields by path.
    h.ctx.log.warn({ authorization: `Bearer ${key}`, nested: { apiKey: "sk-other-provider-key" } }, `oops, the key was ${key}`);
    const last = logged.raw.at(-1)!;
    assert.ok(!last.includes(key) && !last.includes("sk-other-provider-key"), last);
    assert.match(last, /oops, the key was \[redacted\]/);
    for (const l of logged.raw) assert.ok(!l.includes(key) && !l.includes(metricsToken), `a log line holds a secret: ${l}`);
  });

  test("/metrics needs the metrics token when one is set, and names what an operator watches", async () => {
    assert.equal((await h.request("GET", "/metrics")).status, 401);
    assert.equal((await h.request("GET", "/metrics", undefined, auth)).status, 401, "the API key is not the scraper's token");
    const res = await h.request("GET", "/metrics", undefined, { authorization: `Bearer ${metricsToken}` });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
    const text = await res.text();
    for (const name of [
      "codetether_http_request_duration_seconds_bucket",
      "codetether_streams_open",
      "codetether_tasks",
      "codetether_workers_online",
      "codetether_opencode_up 0",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
    ]) {
      assert.ok(text.includes(name), `${name} is exported`);
    }
    assert.match(text, /codetether_http_request_duration_seconds_count\{method="POST",route="\/v1\/opencode\/codebases",status="201"\} 1/);
    assert.match(text, /codetether_tasks\{status="pending"\} 0/);
  });

  test("/metrics takes the API key when no metrics token is set, and is open when neither is", async () => {
    const res = await open.request("GET", "/metrics");
    assert.equal(res.status, 200);
    const codebase = await open.request("POST", "/v1/opencode/codebases", { name: "metered", path: open.tmp });
    const { id } = (await codebase.json()) as { id: string };
    await open.ctx.events.append(id, [
      { type: "status", data: { session_id: "ses_m", status: "running" } },
      { type: "output", data: { session_id: "ses_m", message_id: "m", part_id: "p", content: "hi" } },
      {
        type: "usage",
        data: { session_id: "ses_m", input_tokens: 10, output_tokens: 5, reasoning_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost: 0.25 },
      },
      { type: "complete", data: { session_id: "ses_m", status: "completed" } },
    ]);
    const text = await (await open.request("GET", "/metrics")).text();
    assert.match(text, /codetether_events_appended_total\{type="output"\} 1/);
    assert.match(text, /codetether_runs_total\{outcome="completed"\} 1/);
    assert.match(text, /codetether_run_duration_seconds_count\{outcome="completed"\} 1/);
    assert.match(text, /codetether_usage_tokens_total\{kind="input"\} 10/);
    assert.match(text, /codetether_usage_cost_usd_total 0\.25/);
  });

  test("a worker's polls, lease renewals and uploads are logged at debug; the task's creation and end at info", async () => {
    const level = (reqId: string) => logged.lines.find((l) => l.req_id === reqId)?.level;
    const call = async (method: string, url: string, body: unknown, reqId: string) => {
      const res = await h.request(method, url, body, { ...auth, "x-request-id": reqId });
      const text = await res.text();
      assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    };
    const codebase = await call("POST", "/v1/opencode/codebases", { name: "quiet", path: h.tmp }, "q-codebase");
    await call("POST", "/v1/opencode/worker/register", { name: "quiet-w", codebases: [{ name: "quiet", path: h.tmp }] }, "q-register");
    await call("POST", `/v1/opencode/codebases/${codebase.id}/tasks`, { title: "t", prompt: "p" }, "q-create");
    const claim = await call("POST", "/v1/opencode/worker/claim", { name: "quiet-w" }, "q-claim");
    const task = `/v1/opencode/worker/tasks/${claim.task.id}`;
    await call("POST", `${task}/heartbeat`, { lease_token: claim.lease_token }, "q-renew");
    const output = { seq: 1, type: "output", data: { session_id: "ses_q", message_id: "m", part_id: "p", content: "hi" } };
    await call("POST", `${task}/events`, { lease_token: claim.lease_token, events: [output] }, "q-upload");
    await call("POST", `${task}/complete`, { lease_token: claim.lease_token, status: "completed" }, "q-complete");
    await h.request("GET", "/health", undefined, { "x-request-id": "q-health" });
    const [debug, info] = [20, 30];
    assert.equal(level("q-health"), debug, "probes too");
    assert.deepEqual(
      ["q-codebase", "q-register", "q-create", "q-claim", "q-renew", "q-upload", "q-complete"].map((id) => [id, level(id)]),
      [
        ["q-codebase", info],
        ["q-register", info],
        ["q-create", info],
        ["q-claim", debug],
        ["q-renew", debug],
        ["q-upload", debug],
        ["q-complete", info],
      ],
    );
    // A refused upload is worth an operator's eye: it is logged at info like any other 4xx.
    const refused = await h.request("POST", `${task}/events`, { lease_token: "stale", events: [output] }, { ...auth, "x-request-id": "q-refused" });
    assert.equal(refused.status, 409);
    assert.equal(level("q-refused"), info);
  });
});
