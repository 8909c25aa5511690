/**
 * The API key as tRPC connection params: how browsers' native EventSource (which cannot
 * send headers) authenticates subscriptions. Accepted for GET under /trpc only.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

const key = "browser-key-with-some-length";
const params = (value: unknown) => `connectionParams=${encodeURIComponent(typeof value === "string" ? value : JSON.stringify(value))}`;

describe("API key in tRPC connection params", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness(pgliteDriver, { apiKey: key });
  });
  after(() => h.close());

  test("opens GET /trpc requests (queries and subscriptions)", async () => {
    const res = await h.request("GET", `/trpc/models.list?${params({ token: key })}`);
    assert.equal(res.status, 200);
    assert.ok((await res.json()).result.data.json.models.length > 0);
  });

  test("a wrong, empty, non-string or malformed token is refused", async () => {
    for (const value of [{ token: `${key}x` }, { token: "" }, { token: 1 }, { key }, "{not json", "null"]) {
      const res = await h.request("GET", `/trpc/models.list?${params(value)}`);
      assert.equal(res.status, 401, JSON.stringify(value));
    }
  });

  test("never opens a write, nor a REST route", async () => {
    const create = await h.request("POST", `/trpc/codebases.create?${params({ token: key })}`, { json: { name: "x", path: h.tmp } });
    assert.equal(create.status, 401);
    const rest = await h.request("GET", `/v1/opencode/models?${params({ token: key })}`);
    assert.equal(rest.status, 401);
    assert.deepEqual(await h.trpc.codebases.list(), []);
  });
});
