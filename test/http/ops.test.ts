/** What operators and browser apps on other origins rely on: CORS for configured origins only, and /ready. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

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
    const refusedPreflight = await h.request("OPTIONS", "/v1/opencode/codebases", undefined, { origin: "https://evil.example.com", "access-control-request-method": "GET" });
    assert.equal(refusedPreflight.headers.get("access-control-allow-origin"), null);
    const unset = await plain.request("GET", "/v1/opencode/codebases", undefined, { origin: app });
    assert.equal(unset.headers.get("access-control-allow-origin"), null);
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
