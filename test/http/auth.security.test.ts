/**
 * Auth over every route there is, enumerated from the OpenAPI document and the
 * tRPC router so a new route is covered the day it is added: the client key opens
 * /v1 and /trpc, the worker token opens the worker protocol, neither opens the
 * other's, and nothing is written without the right one.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { appRouter } from "../../src/trpc/router.js";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

const key = "s3cret-key-with-some-length";
const workerToken = "w0rker-token-with-some-length";

const document = JSON.parse(readFileSync(new URL("../../openapi/openapi.json", import.meta.url), "utf8")) as {
  paths: Record<string, Record<string, unknown>>;
};
const restRoutes = Object.entries(document.paths)
  .filter(([path]) => path.startsWith("/v1/"))
  .flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => ["get", "post", "patch", "delete"].includes(m))
      .map((m) => ({ method: m.toUpperCase(), url: path.replace(/\{[a-z_]+\}/g, "x"), worker: path.startsWith("/v1/opencode/worker/") })),
  );
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).map(([name, p]) => ({
  name,
  // Queries and subscriptions are GETs; mutations POST.
  method: p._def.type === "mutation" ? "POST" : "GET",
}));

describe("API key and worker token auth", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness(pgliteDriver, { apiKey: key, workerToken });
  });
  after(() => h.close());

  const wrong = [undefined, "Bearer wrong", `Basic ${key}`, "Bearer ", `Bearer ${key}x`];

  test("the route lists are complete", () => {
    assert.ok(restRoutes.length >= 26, `${restRoutes.length} REST routes`);
    assert.ok(procedures.length >= 19, `${procedures.length} tRPC procedures`);
    assert.ok(restRoutes.some((r) => r.worker) && restRoutes.some((r) => !r.worker));
  });

  test("every /v1 client route needs the API key; the worker token does not open it", async () => {
    for (const { method, url, worker } of restRoutes.filter((r) => !r.worker)) {
      for (const auth of [...wrong, `Bearer ${workerToken}`]) {
        const res = await h.request(method, url, method === "GET" || method === "DELETE" ? undefined : {}, auth ? { authorization: auth } : {});
        assert.equal(res.status, 401, `${method} ${url} with ${auth} (worker route: ${worker})`);
        assert.match((await res.json()).detail, /Not authenticated: send Authorization: Bearer <CODETETHER_API_KEY>/);
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="codetether"');
      }
    }
  });

  test("every worker protocol route needs the worker token; the API key does not open it", async () => {
    for (const { method, url } of restRoutes.filter((r) => r.worker)) {
      for (const auth of [...wrong, `Bearer ${key}`]) {
        const res = await h.request(method, url, {}, auth ? { authorization: auth } : {});
        assert.equal(res.status, 401, `${method} ${url} with ${auth}`);
        assert.match((await res.json()).detail, /CODETETHER_WORKER_TOKEN/);
      }
    }
  });

  test("every tRPC procedure needs the API key", async () => {
    for (const { name, method } of procedures) {
      for (const auth of [...wrong, `Bearer ${workerToken}`]) {
        const res = await h.request(method, `/trpc/${name}`, method === "POST" ? {} : undefined, auth ? { authorization: auth } : {});
        assert.equal(res.status, 401, `${method} /trpc/${name} with ${auth}`);
      }
    }
  });

  test("the right credentials open them, and nothing was written without them", async () => {
    const ok = { authorization: `Bearer ${key}` };
    const list = await h.request("GET", "/v1/opencode/codebases", undefined, ok);
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), []);
    assert.deepEqual(await (await h.request("GET", "/v1/opencode/tasks", undefined, ok)).json(), []);
    assert.deepEqual(await (await h.request("GET", "/v1/opencode/workers", undefined, ok)).json(), []);
    assert.equal((await h.request("GET", "/trpc/models.list", undefined, ok)).status, 200);
    const register = await h.request("POST", "/v1/opencode/worker/register", { name: "w1", codebases: [] }, { authorization: `Bearer ${workerToken}` });
    assert.equal(register.status, 200);
  });

  test("/health, /openapi.json and /docs stay open", async () => {
    for (const url of ["/health", "/openapi.json", "/docs"]) assert.equal((await h.request("GET", url)).status, 200, url);
  });
});
