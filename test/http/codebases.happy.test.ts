import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

for (const driver of testDrivers()) {
  describe(`codebases REST, happy paths (${driver.name})`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(driver);
    });
    after(() => h.close());

    test("registers a codebase exactly as the product page shows", async () => {
      const res = await h.request("POST", "/v1/opencode/codebases", {
        name: "my-project",
        path: h.tmp,
        description: "My awesome project",
      });
      assert.equal(res.status, 201);
      const body = await res.json();
      assert.equal(body.name, "my-project");
      assert.equal(body.path, h.tmp);
      assert.equal(body.description, "My awesome project");
      assert.equal(body.worker_id, null);
      assert.deepEqual(body.agent_config, {});
      assert.match(body.id, /^[0-9a-f-]{36}$/);
      assert.ok(!Number.isNaN(Date.parse(body.created_at)));

      const got = await h.request("GET", `/v1/opencode/codebases/${body.id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(await got.json(), body);
    });

    test("stores agent_config and lists codebases oldest first", async () => {
      const sub = path.join(h.tmp, "src");
      await mkdir(sub, { recursive: true });
      const agent_config = {
        default_model: "anthropic/claude-sonnet-4-20250514",
        auto_approve: false,
        max_iterations: 50,
        working_directory: sub,
      };
      const res = await h.request("POST", "/v1/opencode/codebases", { name: "second", path: h.tmp, agent_config });
      assert.equal(res.status, 201);
      assert.deepEqual((await res.json()).agent_config, agent_config);

      const list = await (await h.request("GET", "/v1/opencode/codebases")).json();
      assert.deepEqual(
        list.map((c: { name: string }) => c.name),
        ["my-project", "second"],
      );
    });

    test("a worker's codebase may name a path that does not exist here", async () => {
      const res = await h.request("POST", "/v1/opencode/codebases", {
        name: "app1",
        path: "/projects/app1",
        worker_id: "worker-1",
      });
      assert.equal(res.status, 201);
      assert.equal((await res.json()).worker_id, "worker-1");
    });

    test("updates fields that are sent and keeps the others", async () => {
      const created = await (await h.request("POST", "/v1/opencode/codebases", { name: "upd", path: h.tmp })).json();
      const res = await h.request("PATCH", `/v1/opencode/codebases/${created.id}`, {
        description: "changed",
        agent_config: { auto_approve: true },
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.description, "changed");
      assert.equal(body.name, "upd");
      assert.deepEqual(body.agent_config, { auto_approve: true });
      assert.ok(Date.parse(body.updated_at) >= Date.parse(created.updated_at));
    });

    test("deletes a codebase, after which it is gone", async () => {
      const created = await (await h.request("POST", "/v1/opencode/codebases", { name: "gone", path: h.tmp })).json();
      const res = await h.request("DELETE", `/v1/opencode/codebases/${created.id}`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { id: created.id, deleted: true });
      assert.equal((await h.request("GET", `/v1/opencode/codebases/${created.id}`)).status, 404);
    });

    test("status counts registered codebases; with no OpenCode, models lists the page's ten as unavailable and says how to connect one", async () => {
      const status = await (await h.request("GET", "/v1/opencode/status")).json();
      assert.equal(typeof status.available, "boolean");
      assert.equal(status.registered_codebases, (await h.trpc.codebases.list()).length);

      const models = await (await h.request("GET", "/v1/opencode/models")).json();
      assert.equal(models.recommended, null);
      assert.equal(models.default, null);
      assert.match(models.message, /Connect a model provider/);
      assert.deepEqual(Object.keys(models.providers), ["anthropic", "openai", "google", "deepseek", "xai"]);
      assert.equal(models.models.length, 10);
      assert.ok(models.models.every((m: { available: boolean; recommended: boolean }) => !m.available && !m.recommended));
      assert.deepEqual(await h.trpc.models.list(), models);
    });

    test("health is open", async () => {
      const res = await h.request("GET", "/health");
      assert.deepEqual(await res.json(), { status: "ok" });
    });
  });
}
