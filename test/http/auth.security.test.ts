import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

const key = "s3cret-key-with-some-length";

describe("API key auth", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness(pgliteDriver, { apiKey: key });
  });
  after(() => h.close());

  const routes: [string, string, unknown?][] = [
    ["GET", "/v1/opencode/status"],
    ["GET", "/v1/opencode/models"],
    ["GET", "/v1/opencode/codebases"],
    ["POST", "/v1/opencode/codebases", { name: "x", path: "/tmp" }],
    ["GET", "/v1/opencode/codebases/x"],
    ["PATCH", "/v1/opencode/codebases/x", {}],
    ["DELETE", "/v1/opencode/codebases/x"],
    ["GET", "/trpc/models.list"],
    ["GET", "/trpc/codebases.list"],
  ];

  test("every /v1 and /trpc route needs the bearer key", async () => {
    for (const [method, url, body] of routes) {
      for (const auth of [undefined, "Bearer wrong", `Basic ${key}`, "Bearer ", `Bearer ${key}x`]) {
        const res = await h.request(method, url, body, auth ? { authorization: auth } : {});
        assert.equal(res.status, 401, `${method} ${url} with ${auth}`);
        if (url.startsWith("/v1")) assert.match((await res.json()).detail, /Not authenticated/);
      }
    }
  });

  test("the right key opens them, and nothing was written without it", async () => {
    const ok = { authorization: `Bearer ${key}` };
    const list = await h.request("GET", "/v1/opencode/codebases", undefined, ok);
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), []);
    assert.equal((await h.request("GET", "/trpc/models.list", undefined, ok)).status, 200);
  });

  test("/health stays open", async () => {
    assert.equal((await h.request("GET", "/health")).status, 200);
  });
});
