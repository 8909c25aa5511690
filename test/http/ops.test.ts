/** What operators and browser apps on other origins rely on: CORS for configured origins only, and /ready. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { startServer } from "../../src/server.js";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness, testConfig } from "../support/harness.js";
import { connectSse } from "../support/sse-client.js";

const app = "https://app.example.com";
const key = "ops-key";

describe("CORS and readiness", () => {
  let h: Harness;
  let plain: Harness;
  before(async () => {
    h = await createHarness(pgliteDriver, { apiKey: key, corsOrigins: [app] });
    plain = await createHarness(pgliteDriver);
  });
  after(async () => {
    await h.close();
    await plain.close();
  });

  test("a preflight from an allowed origin is answered without a key, naming Authorization and Last-Event-ID", async () => {
    for (const path of ["/v1/opencode/codebases", "/trpc/codebases.list"]) {
      const res = await h.request("OPTIONS", path, undefined, {
        origin: app,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, last-event-id",
      });
      assert.equal(res.status, 204, path);
      assert.equal(res.headers.get("access-control-allow-origin"), app);
      const headers = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
      for (const header of ["authorization", "content-type", "last-event-id"]) assert.ok(headers.includes(header), `${path}: ${header}`);
      assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
    }
  });

  test("allowed origins get the header on real calls; others, and servers without the setting, get none", async () => {
    const ok = await h.request("GET", "/v1/opencode/codebases", undefined, { origin: app, authorization: `Bearer ${key}` });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), app);
    const other = await h.request("GET", "/v1/opencode/codebases", undefined, { origin: "https://evil.example.com", authorization: `Bearer ${key}` });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const refusedPreflight = await h.request("OPTIONS", "/v1/opencode/codebases", undefined, {
      origin: "https://evil.example.com",
      "access-control-request-method": "GET",
    });
    assert.equal(refusedPreflight.headers.get("access-control-allow-origin"), null);
    const unset = await plain.request("GET", "/v1/opencode/codebases", undefined, { origin: app });
    assert.equal(unset.headers.get("access-control-allow-origin"), null);
  });

  test("the event stream, written straight to the socket, carries the CORS headers too", async () => {
    const server = await startServer({
      config: testConfig({ dataDir: h.tmp, apiKey: key, corsOrigins: [app] }),
      database: (await pgliteDriver.create()).database,
    });
    try {
      const auth = { authorization: `Bearer ${key}` };
      const made = await fetch(`${server.url}/v1/opencode/codebases`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: "cors", path: h.tmp }),
      });
      const { id } = (await made.json()) as { id: string };
      const sse = await connectSse(`${server.url}/v1/opencode/codebases/${id}/events`, { ...auth, origin: app });
      assert.equal(sse.status, 200);
      assert.equal(sse.headers.get("access-control-allow-origin"), app);
      assert.match(sse.headers.get("content-type") ?? "", /text\/event-stream/);
      sse.close();
    } finally {
      await server.close(1000);
    }
  });

  test("CODETETHER_CORS_ORIGINS=* only without an API key; malformed origins are refused at start-up", () => {
    assert.deepEqual(loadConfig({ CODETETHER_CORS_ORIGINS: "*" }).corsOrigins, ["*"]);
    assert.throws(() => loadConfig({ CODETETHER_CORS_ORIGINS: "*", CODETETHER_API_KEY: "k" }), /refused while CODETETHER_API_KEY is set/);
    assert.throws(() => loadConfig({ CODETETHER_CORS_ORIGINS: "https://app.example.com/path" }), /did you mean https:\/\/app.example.com/);
    assert.deepEqual(loadConfig({ CODETETHER_CORS_ORIGINS: "https://a.example.com, http://localhost:5173/" }).corsOrigins, [
      "https://a.example.com",
      "http://localhost:5173",
    ]);
  });

  test("/ready needs no key and answers 503 naming what is down (here: OpenCode), /health stays 200", async () => {
    const res = await h.request("GET", "/ready");
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.status, "unavailable");
    assert.equal(body.database, "ok");
    assert.notEqual(body.opencode, "ok");
    assert.equal((await h.request("GET", "/health")).status, 200);
  });
});
