import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

for (const driver of testDrivers()) {
  describe(`codebases REST, errors (${driver.name})`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(driver, { maxBodyBytes: 4096 });
    });
    after(() => h.close());

    async function rejects(body: unknown, status: number, detail: RegExp, headers?: Record<string, string>) {
      const res = await h.request("POST", "/v1/opencode/codebases", body, headers);
      const json = await res.json();
      assert.equal(res.status, status, JSON.stringify(json));
      assert.equal(typeof json.detail, "string");
      assert.match(json.detail, detail);
    }

    test("missing, relative, unnormalized and NUL paths are 422", async () => {
      await rejects({ name: "a" }, 422, /path/);
      await rejects({ name: "a", path: "relative/dir" }, 422, /path must be absolute/);
      await rejects({ name: "a", path: "/tmp/../etc" }, 422, /normalized/);
      await rejects({ name: "a", path: "/tmp/x\u0000y" }, 422, /NUL/);
    });

    test("a path that is not an existing directory is 422", async () => {
      await rejects({ name: "a", path: path.join(h.tmp, "missing") }, 422, /not an existing directory/);
      const file = path.join(h.tmp, "file.txt");
      await writeFile(file, "x");
      await rejects({ name: "a", path: file }, 422, /not an existing directory/);
    });

    test("working_directory outside path is 422", async () => {
      await rejects({ name: "a", path: h.tmp, agent_config: { working_directory: "/" } }, 422, /inside path/);
      await rejects({ name: "a", path: h.tmp, agent_config: { working_directory: `${h.tmp}-sibling` } }, 422, /inside path/);
    });

    test("a working_directory that is a symlink leading outside the codebase is 422, at registration and at trigger time", async () => {
      const base = await mkdtemp(path.join(h.tmp, "sym-"));
      const outside = await mkdtemp(path.join(os.tmpdir(), "ct-outside-"));
      await symlink(outside, path.join(base, "escape"));
      await symlink("/", path.join(base, "root"));
      for (const link of ["escape", "root"]) {
        await rejects({ name: `sym-${link}`, path: base, agent_config: { working_directory: path.join(base, link) } }, 422, /through a symlink/);
      }
      // Registered while it was a real directory, swapped for a symlink afterwards.
      await mkdir(path.join(base, "sub"));
      const ok = await h.request("POST", "/v1/opencode/codebases", {
        name: "sym-later",
        path: base,
        agent_config: { working_directory: path.join(base, "sub") },
      });
      assert.equal(ok.status, 201);
      await rm(path.join(base, "sub"), { recursive: true });
      await symlink(outside, path.join(base, "sub"));
      const trigger = await h.request("POST", `/v1/opencode/codebases/${(await ok.json()).id}/trigger`, { prompt: "hi" });
      assert.equal(trigger.status, 422);
      assert.match((await trigger.json()).detail, /outside the codebase .* through a symlink/);
      await rm(outside, { recursive: true, force: true });
    });

    test("a worker cannot register a relative or non-normalized codebase path", async () => {
      for (const bad of ["../../etc", "relative/dir", "/srv/app/../../etc"]) {
        const res = await h.request("POST", "/v1/opencode/worker/register", { name: "w-bad", codebases: [{ name: "x", path: bad }] });
        assert.equal(res.status, 422, bad);
        assert.match((await res.json()).detail, /path/);
      }
    });

    test("bad names, models, unknown fields and wrong types are 422", async () => {
      await rejects({ name: "", path: h.tmp }, 422, /name/);
      await rejects({ name: "a:b", path: h.tmp }, 422, /name/);
      await rejects({ name: "a", path: h.tmp, agent_config: { default_model: "no-slash" } }, 422, /provider\/model/);
      await rejects({ name: "a", path: h.tmp, agent_config: { max_iterations: 0 } }, 422, /max_iterations/);
      await rejects({ name: "a", path: h.tmp, surprise: 1 }, 422, /unknown field/);
      await rejects({ name: 5, path: h.tmp }, 422, /name/);
      await rejects([1, 2], 422, /.+/);
    });

    test("a duplicate name is 409 and nothing is half-written", async () => {
      const ok = await h.request("POST", "/v1/opencode/codebases", { name: "dup", path: h.tmp });
      assert.equal(ok.status, 201);
      await rejects({ name: "dup", path: h.tmp }, 409, /already exists/);
      const list = await (await h.request("GET", "/v1/opencode/codebases")).json();
      assert.equal(list.filter((c: { name: string }) => c.name === "dup").length, 1);

      const other = await (await h.request("POST", "/v1/opencode/codebases", { name: "other", path: h.tmp })).json();
      const res = await h.request("PATCH", `/v1/opencode/codebases/${other.id}`, { name: "dup" });
      assert.equal(res.status, 409);
      assert.equal((await (await h.request("GET", `/v1/opencode/codebases/${other.id}`)).json()).name, "other");
    });

    test("rejected updates leave the codebase unchanged", async () => {
      const cb = await (await h.request("POST", "/v1/opencode/codebases", { name: "keep", path: h.tmp })).json();
      const res = await h.request("PATCH", `/v1/opencode/codebases/${cb.id}`, { path: path.join(h.tmp, "nope") });
      assert.equal(res.status, 422);
      assert.deepEqual(await (await h.request("GET", `/v1/opencode/codebases/${cb.id}`)).json(), cb);
    });

    test("unknown ids are 404 on every verb", async () => {
      for (const [method, body] of [["GET"], ["PATCH", { description: "x" }], ["DELETE"]] as const) {
        const res = await h.request(method, "/v1/opencode/codebases/does-not-exist", body);
        assert.equal(res.status, 404, method);
        assert.deepEqual(await res.json(), { detail: "Codebase not found" });
      }
    });

    test("malformed JSON is 400, a non-JSON body 415, an oversized body 413", async () => {
      await rejects('{"name": "x",', 400, /Malformed JSON/);
      await rejects("name=x", 415, /application\/json/, { "content-type": "application/x-www-form-urlencoded" });
      await rejects({ name: "big", path: h.tmp, description: "x".repeat(8000) }, 413, /larger than 4096 bytes/);
    });

    test("unknown routes answer 404 with a detail", async () => {
      const res = await h.request("GET", "/v1/opencode/nope");
      assert.equal(res.status, 404);
      assert.match((await res.json()).detail, /No route/);
    });
  });
}
