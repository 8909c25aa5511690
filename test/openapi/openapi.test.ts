/**
 * The committed OpenAPI document is what the code generates, is valid 3.1,
 * documents every /v1 route honestly, and is served (with /docs) without a key.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import SwaggerParser from "@apidevtools/swagger-parser";
import { validate } from "@readme/openapi-parser";
import type { AgentEvent } from "../../src/contracts/events.js";
import { createApi } from "../../src/http/api.js";
import { buildDocument, serializeDocument } from "../../src/http/document.js";
import { EventStreamMessage, toFrame } from "../../src/http/rest/event-stream.js";
import { pgliteDriver } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

const committedUrl = new URL("../../openapi/openapi.json", import.meta.url);
const root = new URL("../../", import.meta.url);
const methods = ["get", "put", "post", "patch", "delete", "head", "options", "trace"] as const;

type Json = Record<string, unknown>;
interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Json[];
  parameters?: { in: string; name: string }[];
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
}

/** Every operation of the document as [METHOD, path, operation]. */
function operations(doc: Json): [string, string, Operation][] {
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  return Object.entries(paths).flatMap(([path, item]) =>
    methods.filter((m) => item[m]).map((m): [string, string, Operation] => [m.toUpperCase(), path, item[m]!]),
  );
}

const committed = () => readFile(committedUrl, "utf8");

describe("OpenAPI document", () => {
  test("the committed openapi/openapi.json is what the code generates", async () => {
    const generated = serializeDocument(buildDocument(createApi()));
    const text = await committed().catch(() => "");
    if (text !== generated) {
      const a = text.split("\n");
      const b = generated.split("\n");
      const line = a.findIndex((l, i) => l !== b[i]);
      assert.fail(
        `openapi/openapi.json is out of date with the route definitions: run npm run openapi (and commit it). ` +
          `First difference at line ${line + 1}: committed ${JSON.stringify(a[line])}, generated ${JSON.stringify(b[line])}`,
      );
    }
  });

  test("npm run openapi:check passes on the committed file", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/openapi.ts", "--check"], { cwd: root });
    assert.match(stdout, /up to date/);
  });

  test("is a valid OpenAPI 3.1 document", async () => {
    const doc = JSON.parse(await committed()) as Json;
    assert.match(String(doc.openapi), /^3\.1\./);
    const result = await validate(structuredClone(doc) as never);
    assert.equal(result.specification, "OpenAPI");
    assert.ok(result.valid, result.valid ? "" : result.errors.map((e) => e.message).join("\n"));
    assert.deepEqual(result.warnings, []);
  });

  test("@apidevtools/swagger-parser (what orval and many generators use) validates it too", async () => {
    const doc = JSON.parse(await committed()) as Json;
    await assert.doesNotReject(SwaggerParser.validate(structuredClone(doc) as never));
  });

  test("operationIds are unique, tags declared, shared schemas named", async () => {
    const doc = JSON.parse(await committed()) as Json;
    const declared = new Set((doc.tags as { name: string }[]).map((t) => t.name));
    const ids = new Set<string>();
    for (const [method, path, op] of operations(doc)) {
      const where = `${method} ${path}`;
      assert.ok(op.operationId, `${where} has an operationId`);
      assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} is used twice`);
      ids.add(op.operationId);
      assert.ok(op.tags?.length && op.tags.every((t) => declared.has(t)), `${where} has declared tags`);
      // Bodies and answers refer to named schemas (an array of them at most), so generated clients get names.
      const schemas = [...Object.values(op.requestBody?.content ?? {}), ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}))].map(
        (m) => m.schema,
      );
      for (const s of schemas) {
        const named = typeof s.$ref === "string" || (s.type === "array" && typeof (s.items as Json).$ref === "string");
        assert.ok(named, `${where} uses an unnamed schema ${JSON.stringify(s).slice(0, 80)}`);
      }
    }
    const schemes = (doc.components as Json).securitySchemes as Json;
    assert.deepEqual(Object.keys(schemes).sort(), ["apiKey", "metricsToken", "workerToken"]);
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
  });

  test("every route lists the errors its shape implies, and the worker protocol its own token", async () => {
    const doc = JSON.parse(await committed()) as Json;
    for (const [method, path, op] of operations(doc)) {
      const where = `${method} ${path}`;
      const statuses = Object.keys(op.responses);
      if (path === "/metrics") {
        assert.deepEqual(op.security, [{ metricsToken: [] }], `${where} takes the scraper's token`);
        continue;
      }
      if (!path.startsWith("/v1/")) {
        assert.deepEqual(op.security, [], `${where} needs no key`);
        continue;
      }
      for (const s of ["401", "500", "503"]) assert.ok(statuses.includes(s), `${where} lists ${s}`);
      if (op.requestBody) for (const s of ["400", "413", "415", "422"]) assert.ok(statuses.includes(s), `${where} lists ${s}`);
      if (op.parameters?.some((p) => p.in === "path" || p.in === "query")) assert.ok(statuses.includes("422"), `${where} lists 422`);
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400) assert.deepEqual(response.content?.["application/json"]?.schema, { $ref: "#/components/schemas/Error" });
      }
      const worker = path.startsWith("/v1/opencode/worker/");
      assert.deepEqual(op.security, worker ? [{ workerToken: [] }] : undefined, `${where} security`);
    }
    const status = (path: string, method: string) => Object.keys(operations(doc).find(([m, p]) => m === method && p === path)![2].responses);
    assert.ok(status("/v1/opencode/codebases", "POST").includes("201"));
    assert.ok(status("/v1/opencode/codebases/{id}/tasks", "POST").includes("201"));
    assert.ok(status("/v1/opencode/codebases/{id}/trigger", "POST").includes("202"));
    assert.ok(status("/v1/opencode/worker/claim", "POST").includes("204"));
    const events = operations(doc).find(([, p]) => p === "/v1/opencode/codebases/{id}/events")![2];
    assert.ok(events.responses["200"]!.content!["text/event-stream"]);
    assert.deepEqual(events.parameters!.map((p) => `${p.in}:${p.name}`).sort(), ["header:last-event-id", "path:id", "query:last_event_id", "query:session_id"]);
  });
});

describe("the documented event stream", () => {
  test("frames as the SSE route sends them match EventStreamMessage", () => {
    const at = "2026-11-24T12:00:00.000Z";
    const events: AgentEvent[] = [
      { id: 7, type: "output", data: { session_id: "ses_1", message_id: "m", part_id: "p", content: "Hello" }, created_at: at },
      { id: 8, type: "tool_use", data: { session_id: "ses_1", tool: "write", call_id: "c", status: "completed" }, created_at: at },
      { id: 9, type: "complete", data: { session_id: null, status: "completed", task_id: "t" }, created_at: at },
      { id: 0, type: "reset", data: { session_id: null, reason: "beyond the head", head: 3 }, created_at: at },
    ];
    for (const event of events) {
      const frame = toFrame(event);
      const message = { event: frame.event, ...(frame.id === undefined ? {} : { id: frame.id }), data: JSON.parse(frame.data) };
      const parsed = EventStreamMessage.safeParse(message);
      assert.ok(parsed.success, `${event.type}: ${parsed.error?.message}`);
      assert.equal(message.data.id, event.id);
    }
    // A message without its id is refused, so the check above means something.
    assert.equal(EventStreamMessage.safeParse({ event: "output", data: JSON.parse(toFrame(events[0]!).data) }).success, false);
  });
});

describe("OpenAPI document against the running app", () => {
  let h: Harness;
  before(async () => {
    h = await createHarness(pgliteDriver, { apiKey: "k" });
  });
  after(() => h.close());

  test("every route the app registers under /v1 is documented, and nothing else", async () => {
    const doc = JSON.parse(await committed()) as Json;
    const documented = new Set(operations(doc).map(([m, p]) => `${m} ${p}`));
    const registered = new Set(
      h.app.routes
        // Middleware shows up as ALL (on a wildcard path, or /metrics's auth); anything else is a route.
        .filter(
          (r) =>
            !(r.method === "ALL" && (r.path.endsWith("*") || r.path === "/metrics")) &&
            (r.path.startsWith("/v1/") || ["/health", "/ready", "/metrics"].includes(r.path)),
        )
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    assert.ok(registered.size > 20, "found the app's routes");
    assert.deepEqual(
      [...registered].filter((r) => !documented.has(r)),
      [],
      "registered but undocumented",
    );
    assert.deepEqual(
      [...documented].filter((r) => !registered.has(r)),
      [],
      "documented but not registered",
    );
  });

  test("GET /openapi.json serves the committed document without a key", async () => {
    const res = await h.request("GET", "/openapi.json");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(await res.text(), await committed());
  });

  test("GET /docs serves Swagger UI without a key, its assets from swagger-ui-dist", async () => {
    const res = await h.request("GET", "/docs");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const html = await res.text();
    assert.match(html, /SwaggerUIBundle\(\{ url: "\/openapi.json"/);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length >= 3);
    for (const asset of assets) {
      assert.match(asset, /^\/docs\/assets\//, "served from here, not a CDN");
      const a = await h.request("GET", asset);
      assert.equal(a.status, 200, asset);
      assert.ok((await a.arrayBuffer()).byteLength > 100, asset);
    }
    assert.equal((await h.request("GET", "/docs/assets/package.json")).status, 404);
    assert.equal((await h.request("GET", "/docs/assets/..%2Fpackage.json")).status, 404);
  });

  test("the API itself still needs the key", async () => {
    assert.equal((await h.request("GET", "/v1/opencode/codebases")).status, 401);
    assert.equal((await h.request("GET", "/v1/opencode/codebases", undefined, { authorization: "Bearer k" })).status, 200);
  });
});
