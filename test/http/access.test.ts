/**
 * Users, keys and roles over every door: each role against every REST route (from the
 * OpenAPI document), tRPC procedure (from the router) and MCP tool (from the table), so
 * a route added without a rule fails here; keys limited to codebases; revocation seen by
 * another server process and by an open stream; the audit trail, written with the change
 * and rolled back with it; keys kept out of the log; the `codetether keys` command.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type Access, roleAllows, roles } from "../../src/contracts/access.js";
import { createDb } from "../../src/db/client.js";
import { createApp } from "../../src/http/app.js";
import { mcpTools } from "../../src/mcp/tools.js";
import { createLogger } from "../../src/observability/log.js";
import { createServices } from "../../src/runtime.js";
import { appRouter } from "../../src/trpc/router.js";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness, testConfig } from "../support/harness.js";

const exec = promisify(execFile);
const apiKey = "builtin-admin-key-for-tests";

const document = JSON.parse(readFileSync(new URL("../../openapi/openapi.json", import.meta.url), "utf8")) as {
  paths: Record<string, Record<string, { "x-codetether-access"?: Access }>>;
};
const restRoutes = Object.entries(document.paths)
  .filter(([path]) => path.startsWith("/v1/"))
  .flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => ["get", "post", "patch", "delete"].includes(m))
      .map(([m, op]) => ({ method: m.toUpperCase(), path, url: path.replace(/\{[a-z_]+\}/g, "x"), access: op["x-codetether-access"] })),
  );
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string; meta?: { access?: Access } } }>).map(
  ([name, p]) => ({ name, type: p._def.type, access: p._def.meta?.access }),
);

function capture() {
  const raw: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (chunk: Buffer) => raw.push(...chunk.toString().split("\n").filter(Boolean)));
  return { log: createLogger({ name: "codetether", level: "debug", secrets: [apiKey], destination: stream }), raw };
}

for (const driver of testDrivers()) {
  describe(`users, keys and roles (${driver.name})`, () => {
    let h: Harness;
    const logged = capture();
    const keys: Record<string, string> = {};
    const admin = { authorization: `Bearer ${apiKey}` };
    const as = (role: string) => ({ authorization: `Bearer ${keys[role]}` });

    before(async () => {
      h = await createHarness(driver, { apiKey }, undefined, logged.log);
      for (const role of roles) {
        const user = await h.request("POST", "/v1/opencode/users", { name: `${role}-user`, role }, admin);
        assert.equal(user.status, 201, JSON.stringify(await user.clone().json()));
        const key = await h.request("POST", "/v1/opencode/keys", { user_id: (await user.json()).id, name: `${role} key` }, admin);
        assert.equal(key.status, 201);
        keys[role] = (await key.json()).key;
      }
    });
    after(() => h.close());

    test("every REST route, tRPC procedure and MCP tool has a rule", () => {
      assert.ok(restRoutes.length >= 45, `${restRoutes.length} routes`);
      for (const r of restRoutes) assert.ok(r.access, `${r.method} ${r.path} has no x-codetether-access rule`);
      for (const p of procedures) assert.ok(p.access, `tRPC ${p.name} has no access rule`);
      for (const t of mcpTools(h.ctx)) assert.ok(["read", "write", "admin"].includes(t.access), `MCP ${t.name}`);
      // The worker protocol is for workers; nothing else is.
      for (const r of restRoutes) assert.equal(r.access === "worker", r.path.startsWith("/v1/opencode/worker/"), r.path);
    });

    test("a key is shown once, as ctk_<id>_<secret>; lists show its id, never the key", async () => {
      assert.match(keys.member!, /^ctk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      const list = await (await h.request("GET", "/v1/opencode/keys", undefined, admin)).json();
      assert.equal(list.length, 4);
      assert.ok(!JSON.stringify(list).includes(keys.member!.slice(17)));
      assert.deepEqual(
        list.map((k: { role: string }) => k.role),
        [...roles],
      );
      const me = await (await h.request("GET", "/v1/opencode/me", undefined, as("viewer"))).json();
      assert.deepEqual({ kind: me.kind, role: me.role, user_name: me.user_name }, { kind: "key", role: "viewer", user_name: "viewer-user" });
    });

    test("each role against every REST route: 403 naming the role needed exactly where its role does not allow it", async () => {
      for (const role of roles) {
        for (const r of restRoutes) {
          const res = await h.request(r.method, r.url, r.method === "GET" || r.method === "DELETE" ? undefined : {}, as(role));
          const allowed = roleAllows(role, r.access!);
          if (allowed) assert.ok(![401, 403].includes(res.status), `${role} ${r.method} ${r.path}: ${res.status}`);
          else {
            assert.equal(res.status, 403, `${role} ${r.method} ${r.path}`);
            assert.match((await res.json()).detail, new RegExp(`needs the \\w+ role.*your key's role is ${role}`));
          }
          if (!res.bodyUsed) await res.body?.cancel();
        }
      }
    });

    test("each role against every tRPC procedure: FORBIDDEN exactly where its role does not allow it", async () => {
      for (const role of roles) {
        for (const p of procedures) {
          const res = await h.request(p.type === "mutation" ? "POST" : "GET", `/trpc/${p.name}`, p.type === "mutation" ? {} : undefined, as(role));
          const allowed = roleAllows(role, p.access!);
          if (p.type === "subscription") {
            // A subscription answers a stream either way; a refused one says so in its first message.
            const text = allowed ? "" : await res.text();
            if (!allowed) assert.match(text, /FORBIDDEN|needs the/, `${role} ${p.name}`);
            else await res.body?.cancel();
            continue;
          }
          const body = await res.text();
          if (allowed) assert.ok(![401, 403].includes(res.status), `${role} ${p.name}: ${res.status} ${body}`);
          else assert.equal(res.status, 403, `${role} ${p.name}: ${body}`);
        }
      }
    });

    test("MCP offers each role only the tools it may use", async () => {
      const listTools = async (role: string) => {
        const res = await h.request(
          "POST",
          "/mcp",
          { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} },
          { ...as(role), accept: "application/json, text/event-stream" },
        );
        const text = await res.text();
        const json = JSON.parse(
          text.startsWith("{")
            ? text
            : text
                .split("\n")
                .find((l) => l.startsWith("data: "))!
                .slice(6),
        );
        return (json.result?.tools ?? []).map((t: { name: string }) => t.name).sort();
      };
      const all = mcpTools(h.ctx);
      for (const role of roles) {
        const expected = all
          .filter((t) => roleAllows(role, t.access))
          .map((t) => t.name)
          .sort();
        assert.deepEqual(await listTools(role), expected, role);
      }
      assert.ok((await listTools("viewer")).includes("list_codebases") && !(await listTools("viewer")).includes("trigger_agent"));
    });

    test("a key limited to one codebase sees only it: lists are filtered, the other's id is a 404", async () => {
      const a = await (await h.request("POST", "/v1/opencode/codebases", { name: "scoped-a", path: h.tmp }, admin)).json();
      const b = await (await h.request("POST", "/v1/opencode/codebases", { name: "scoped-b", path: h.tmp }, admin)).json();
      await h.request("POST", `/v1/opencode/codebases/${b.id}/tasks`, { title: "b's", prompt: "p" }, admin);
      const users = await (await h.request("GET", "/v1/opencode/users", undefined, admin)).json();
      const member = users.find((u: { role: string }) => u.role === "member");
      const scoped = await (await h.request("POST", "/v1/opencode/keys", { user_id: member.id, name: "only a", codebase_ids: [a.id] }, admin)).json();
      const auth = { authorization: `Bearer ${scoped.key}` };
      const list = await (await h.request("GET", "/v1/opencode/codebases", undefined, auth)).json();
      assert.deepEqual(
        list.map((c: { id: string }) => c.id),
        [a.id],
      );
      assert.equal((await h.request("GET", `/v1/opencode/codebases/${b.id}`, undefined, auth)).status, 404);
      assert.equal((await h.request("POST", `/v1/opencode/codebases/${b.id}/tasks`, { title: "t", prompt: "p" }, auth)).status, 404);
      assert.equal((await h.request("DELETE", `/v1/opencode/codebases/${b.id}`, undefined, auth)).status, 404);
      assert.equal((await h.request("GET", `/v1/opencode/codebases/${b.id}/events`, undefined, auth)).status, 404, "nor its stream");
      assert.equal((await h.request("GET", `/v1/opencode/codebases/${b.id}/sessions`, undefined, auth)).status, 404, "nor its sessions");
      const usage = await (await h.request("GET", "/v1/opencode/usage?group_by=codebase", undefined, auth)).json();
      assert.ok(!JSON.stringify(usage).includes(b.id), "nor its usage");
      const tasks = await (await h.request("GET", "/v1/opencode/tasks", undefined, auth)).json();
      assert.equal(tasks.length, 0, "b's task is not listed");
      assert.equal((await h.request("GET", `/v1/opencode/codebases/${b.id}`, undefined, admin)).status, 200, "b is still there");
    });

    test("a worker key named for some workers speaks for those alone; records say which user created them", async () => {
      const users = await (await h.request("GET", "/v1/opencode/users", undefined, admin)).json();
      const workerUser = users.find((u: { role: string }) => u.role === "worker");
      const key = await (await h.request("POST", "/v1/opencode/keys", { user_id: workerUser.id, name: "w1 only", worker_names: ["w1"] }, admin)).json();
      const auth = { authorization: `Bearer ${key.key}` };
      const register = (name: string) => h.request("POST", "/v1/opencode/worker/register", { name, codebases: [] }, auth);
      assert.equal((await register("w1")).status, 200);
      const other = await register("w2");
      assert.equal(other.status, 403);
      assert.match((await other.json()).detail, /speaks for the workers w1 only, not "w2"/);
      assert.equal((await h.request("POST", "/v1/opencode/worker/claim", { name: "w2" }, auth)).status, 403);
      const memberKey = await (
        await h.request("POST", "/v1/opencode/keys", { user_id: users.find((u: { role: string }) => u.role === "member").id, name: "x" }, admin)
      ).json();
      const byMember = { authorization: `Bearer ${memberKey.key}` };
      const cb = await (await h.request("POST", "/v1/opencode/codebases", { name: "whose", path: h.tmp }, byMember)).json();
      assert.equal(cb.created_by, "member-user");
      const task = await (await h.request("POST", `/v1/opencode/codebases/${cb.id}/tasks`, { title: "t", prompt: "p" }, byMember)).json();
      assert.equal(task.created_by, "member-user");
      const builtin = await (await h.request("POST", "/v1/opencode/codebases", { name: "whose-builtin", path: h.tmp }, admin)).json();
      assert.equal(builtin.created_by, null);
    });

    test("the audit trail: each change with who made it and the request id; a change that fails leaves no row", async () => {
      const res = await h.request("POST", "/v1/opencode/codebases", { name: "audited", path: h.tmp }, { ...as("member"), "x-request-id": "req-audit-1" });
      assert.equal(res.status, 201);
      const cb = await res.json();
      const taken = await h.request("POST", "/v1/opencode/codebases", { name: "audited", path: h.tmp }, { ...as("member"), "x-request-id": "req-audit-2" });
      assert.equal(taken.status, 409);
      const trail = await (await h.request("GET", "/v1/opencode/audit?action=codebase.create", undefined, admin)).json();
      const row = trail.find((e: { target_id: string }) => e.target_id === cb.id);
      const me = await (await h.request("GET", "/v1/opencode/me", undefined, as("member"))).json();
      assert.deepEqual(
        { actor: row.actor, user: row.user_id, key: row.key_id, request: row.request_id },
        { actor: "key", user: me.user_id, key: me.key_id, request: "req-audit-1" },
      );
      assert.ok(!trail.some((e: { request_id: string }) => e.request_id === "req-audit-2"), "the refused create left no audit row");
      const keyRows = await (await h.request("GET", "/v1/opencode/audit?action=key.create", undefined, admin)).json();
      assert.ok(keyRows.length >= 4 && keyRows.every((e: { actor: string }) => e.actor === "builtin"));
      assert.equal((await h.request("GET", "/v1/opencode/audit", undefined, as("member"))).status, 403);
    });

    test("revoked: refused at once, and an open stream of the key ends", async () => {
      const user = await (await h.request("POST", "/v1/opencode/users", { name: "leaver", role: "member" }, admin)).json();
      const key = await (await h.request("POST", "/v1/opencode/keys", { user_id: user.id, name: "soon gone" }, admin)).json();
      const auth = { authorization: `Bearer ${key.key}` };
      const cb = await (await h.request("POST", "/v1/opencode/codebases", { name: "streamed", path: h.tmp }, auth)).json();
      const stream = await h.request("GET", `/v1/opencode/codebases/${cb.id}/events`, undefined, auth);
      assert.equal(stream.status, 200);
      const reader = stream.body!.getReader();
      const ended = (async () => {
        for (;;) if ((await reader.read()).done) return true;
      })();
      assert.equal((await h.request("DELETE", `/v1/opencode/keys/${key.id}`, undefined, admin)).status, 200);
      const refused = await h.request("GET", "/v1/opencode/codebases", undefined, auth);
      assert.equal(refused.status, 401);
      assert.match((await refused.json()).detail, /revoked/);
      assert.equal(await Promise.race([ended, new Promise((r) => setTimeout(() => r("still open"), 10_000))]), true);
    });

    test("a wrong secret and an unknown id cost the same work: one hash and one constant-time compare each", async () => {
      const [id, secret] = [keys.member!.slice(4, 16), keys.member!.slice(17)];
      const wrongSecret = `ctk_${id}_${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
      const unknownId = `ctk_${"z".repeat(12)}_${secret}`;
      for (const token of [wrongSecret, unknownId]) {
        const before = h.ctx.access.comparisons;
        assert.equal(await h.ctx.access.authenticate(token), null, token === unknownId ? "unknown id" : "wrong secret");
        assert.equal(h.ctx.access.comparisons - before, 1);
      }
      const res = await h.request("GET", "/v1/opencode/codebases", undefined, { authorization: `Bearer ${wrongSecret}` });
      assert.equal(res.status, 401);
    });

    test("no key, built-in or a user's, reaches the log", () => {
      assert.ok(logged.raw.length > 0);
      for (const line of logged.raw) {
        assert.ok(!line.includes(apiKey), `the built-in key in: ${line}`);
        for (const k of Object.values(keys)) assert.ok(!line.includes(k.slice(17)), `a user's key in: ${line}`);
      }
    });

    test("a server with users but no built-in key refuses a request without a key", async () => {
      const open = await createHarness(driver);
      try {
        assert.equal((await open.request("GET", "/v1/opencode/codebases")).status, 200, "no users, no key: open as before");
        await open.request("POST", "/v1/opencode/users", { name: "first", role: "admin" });
        await new Promise((r) => setTimeout(r, 1100)); // what the process knew of "no users" lives a second
        assert.equal((await open.request("GET", "/v1/opencode/codebases")).status, 401);
      } finally {
        await open.close();
      }
    });

    if (driver.name === "postgres") {
      test("revoked on one server process, refused by another on the same database within a second; keys made by the CLI work", async () => {
        const { url, drop } = await (async () => {
          const base = process.env.DATABASE_URL!.trim();
          const { createPostgresDatabase } = await import("../support/db.js");
          return createPostgresDatabase(base);
        })();
        const one = await createServices({ database: await createDb({ driver: "postgres", url }), config: testConfig({ dataDir: h.tmp }) });
        const two = await createServices({ database: await createDb({ driver: "postgres", url }), config: testConfig({ dataDir: h.tmp }) });
        try {
          const cli = await exec(process.execPath, ["bin/codetether.mjs", "keys", "create", "--user", "ops", "--role", "admin"], {
            env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "silent" },
          });
          const key = cli.stdout.trim();
          assert.match(key, /^ctk_/);
          assert.match(cli.stderr, /shown this once/);
          const auth = { authorization: `Bearer ${key}` };
          const [appOne, appTwo] = [createApp(one.ctx), createApp(two.ctx)];
          assert.equal((await appTwo.request("/v1/opencode/codebases", { headers: auth })).status, 200);
          const keyId = key.slice(4, 16);
          const listed = await exec(process.execPath, ["bin/codetether.mjs", "keys", "list"], { env: { ...process.env, DATABASE_URL: url } });
          assert.match(listed.stdout, new RegExp(`${keyId}\\tops\\tadmin`));
          const created = await appTwo.request("/v1/opencode/codebases", {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: JSON.stringify({ name: "two", path: h.tmp }),
          });
          const cb = (await created.json()) as { id: string };
          const stream = await appTwo.request(`/v1/opencode/codebases/${cb.id}/events`, { headers: auth });
          assert.equal(stream.status, 200);
          const reader = stream.body!.getReader();
          const streamEnded = Promise.race([
            (async () => {
              for (;;) if ((await reader.read()).done) return true;
            })(),
            new Promise((r) => setTimeout(() => r("still open"), 10_000)),
          ]);
          assert.equal((await appOne.request(`/v1/opencode/keys/${keyId}`, { method: "DELETE", headers: auth })).status, 200);
          const started = Date.now();
          let status = 200;
          while (status === 200 && Date.now() - started < 5000) {
            status = (await appTwo.request("/v1/opencode/codebases", { headers: auth })).status;
            if (status === 200) await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(status, 401, "the other process refuses the revoked key");
          // And a stream the key opened on the other process ended with it (checked below, opened before the revoke).
          assert.equal(await streamEnded, true, "the other process ended the key's open stream");
        } finally {
          await one.stop();
          await two.stop();
          await one.ctx.database.close();
          await two.ctx.database.close();
          await drop();
        }
      });
    }
  });
}
