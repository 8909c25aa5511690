import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";
import { trpcError } from "../support/trpc.js";

for (const driver of testDrivers()) {
  describe(`codebases tRPC (${driver.name})`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(driver);
    });
    after(() => h.close());

    test("create, get, list, update, delete over the same verbs", async () => {
      const cb = await h.trpc.codebases.create({ name: "t1", path: h.tmp, agent_config: { auto_approve: true } });
      assert.deepEqual(await h.trpc.codebases.get({ id: cb.id }), cb);
      assert.deepEqual(
        (await h.trpc.codebases.list()).map((c) => c.id),
        [cb.id],
      );
      const upd = await h.trpc.codebases.update({ id: cb.id, patch: { description: "d" } });
      assert.equal(upd.description, "d");
      assert.deepEqual(await h.trpc.codebases.delete({ id: cb.id }), { id: cb.id, deleted: true });
    });

    test("a batch is capped at 20 calls: 20 are answered, 21 are a 400 that does no work", async () => {
      const batch = (n: number) => {
        const paths = Array.from({ length: n }, () => "codebases.list").join(",");
        const input = encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, {}]))));
        return h.request("GET", `/trpc/${paths}?batch=1&input=${input}`);
      };
      const ok = await batch(20);
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).length, 20);
      const tooMany = await batch(21);
      assert.equal(tooMany.status, 400);
      assert.match(JSON.stringify(await tooMany.json()), /batch/i);
    });

    test("errors are typed: NOT_FOUND, CONFLICT, UNPROCESSABLE_CONTENT, BAD_REQUEST", async () => {
      assert.equal((await trpcError(h.trpc.codebases.get({ id: "nope" }))).code, "NOT_FOUND");
      await h.trpc.codebases.create({ name: "t2", path: h.tmp });
      assert.equal((await trpcError(h.trpc.codebases.create({ name: "t2", path: h.tmp }))).code, "CONFLICT");
      const missing = await trpcError(h.trpc.codebases.create({ name: "t3", path: path.join(h.tmp, "missing") }));
      assert.equal(missing.code, "UNPROCESSABLE_CONTENT");
      assert.match(missing.message, /not an existing directory/);
      const bad = await trpcError(h.trpc.codebases.create({ name: "t4", path: "relative" }));
      assert.equal(bad.code, "BAD_REQUEST");
    });

    test("the HTTP transport answers tRPC with superjson and typed error codes", async () => {
      const res = await h.request("GET", `/trpc/codebases.get?input=${encodeURIComponent(JSON.stringify({ json: { id: "nope" } }))}`);
      assert.equal(res.status, 404);
      const body = await res.json();
      assert.equal(body.error.json.data.code, "NOT_FOUND");
      assert.equal(body.error.json.message, "Codebase not found");
    });
  });
}
