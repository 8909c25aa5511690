/**
 * The committed document is good enough for a third-party generator: types from
 * openapi-typescript, a program over openapi-fetch that must type-check against
 * them, and that program run against a live server, its typed reads checked.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import openapiTS, { astToString } from "openapi-typescript";
import { tsImport } from "tsx/esm/api";
import { type RunningServer, startServer } from "../../src/server.js";
import { pgliteDriver } from "../support/db.js";
import { testConfig } from "../support/harness.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const apiKey = "generated-client-key";

/** The program a client author would write; `tsc` must accept it against the generated types. */
const program = `
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Codebase = components["schemas"]["Codebase"];
type Task = components["schemas"]["Task"];

export interface Outcome {
  statuses: number[];
  codebase: Pick<Codebase, "id" | "name" | "path" | "description">;
  listedNames: string[];
  task: Pick<Task, "codebase_id" | "title" | "status" | "priority" | "agent_type" | "attempts" | "max_attempts">;
  recommended: string | null;
  providers: string[];
  recommendedFlags: boolean[];
  missing: { status: number; detail: string | undefined };
}

export async function run(baseUrl: string, key: string, dir: string): Promise<Outcome> {
  const client = createClient<paths>({ baseUrl, headers: { Authorization: \`Bearer \${key}\` } });

  const created = await client.POST("/v1/opencode/codebases", {
    body: { name: "typed-client", path: dir, description: "made by a generated client" },
  });
  if (!created.data) throw new Error(\`register: \${created.response.status} \${created.error?.detail}\`);
  const codebase: Codebase = created.data;

  const listed = await client.GET("/v1/opencode/codebases");
  if (!listed.data) throw new Error(\`list: \${listed.error?.detail}\`);

  const queued = await client.POST("/v1/opencode/codebases/{id}/tasks", {
    params: { path: { id: codebase.id } },
    body: { title: "Add tests", prompt: "Write unit tests for the parser", priority: 5 },
  });
  if (!queued.data) throw new Error(\`task: \${queued.error?.detail}\`);
  const task: Task = queued.data;
  const status: "pending" | "running" | "completed" | "failed" | "cancelled" = task.status;

  const models = await client.GET("/v1/opencode/models");
  if (!models.data) throw new Error(\`models: \${models.error?.detail}\`);

  const missing = await client.GET("/v1/opencode/codebases/{id}", { params: { path: { id: "no-such-codebase" } } });
  const detail: string | undefined = missing.error?.detail;

  return {
    statuses: [created.response.status, listed.response.status, queued.response.status, models.response.status],
    codebase: { id: codebase.id, name: codebase.name, path: codebase.path, description: codebase.description },
    listedNames: listed.data.map((c) => c.name),
    task: {
      codebase_id: task.codebase_id,
      title: task.title,
      status,
      priority: task.priority,
      agent_type: task.agent_type,
      attempts: task.attempts,
      max_attempts: task.max_attempts,
    },
    recommended: models.data.recommended,
    providers: Object.keys(models.data.providers),
    recommendedFlags: models.data.models.map((m) => m.recommended),
    missing: { status: missing.response.status, detail },
  };
}

/** Never called: each line must be a type error, or the types are too loose to catch mistakes. */
export async function mistakes(client: ReturnType<typeof createClient<paths>>) {
  // @ts-expect-error path is required to register a codebase
  await client.POST("/v1/opencode/codebases", { body: { name: "x" } });
  // @ts-expect-error tasks need the codebase id in the path
  await client.POST("/v1/opencode/codebases/{id}/tasks", { body: { title: "t", prompt: "p" } });
  // @ts-expect-error there is no such route
  await client.GET("/v1/opencode/nowhere");
  const { data } = await client.GET("/v1/opencode/models");
  // @ts-expect-error recommended is a string or null
  const n: number | undefined = data?.recommended;
  return n;
}
`;

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2023", "DOM"],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
  },
  files: ["schema.d.ts", "client.ts"],
};

describe("a client generated from openapi/openapi.json by openapi-typescript", () => {
  let dir: string;
  let server: RunningServer;
  let drop: () => Promise<void>;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ct-openapi-client-"));
    // The program imports openapi-fetch the way a client project would: from its node_modules.
    await symlink(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
    await writeFile(path.join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    await mkdir(path.join(dir, "repo"));
    const db = await pgliteDriver.create();
    drop = db.drop;
    // No local runner: the queued task must stay pending, not be run.
    server = await startServer({ config: testConfig({ dataDir: dir, apiKey, localConcurrency: 0 }), database: db.database });
  });
  after(async () => {
    await server?.close(1000);
    await drop?.();
    await rm(dir, { recursive: true, force: true });
  });

  test("generates types, type-checks a program with them, and the program works against a live server", async () => {
    const document = JSON.parse(await readFile(path.join(root, "openapi/openapi.json"), "utf8"));
    const types = astToString(await openapiTS(document));
    assert.match(types, /export interface paths/);
    await writeFile(path.join(dir, "schema.d.ts"), types);
    await writeFile(path.join(dir, "client.ts"), program);
    await writeFile(path.join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));

    const tsc = path.join(root, "node_modules/typescript/bin/tsc");
    await promisify(execFile)(process.execPath, [tsc, "-p", path.join(dir, "tsconfig.json")]).catch((err: { stdout?: string }) => {
      assert.fail(`the program does not type-check against the generated types:\n${err.stdout}`);
    });

    // Through tsx's API: the program is TypeScript, and the test itself may run compiled, without tsx's loader.
    const { run } = (await tsImport(pathToFileURL(path.join(dir, "client.ts")).href, import.meta.url)) as {
      run(baseUrl: string, key: string, dir: string): Promise<Record<string, unknown>>;
    };
    const codebaseDir = path.join(dir, "repo");
    const outcome = (await run(server.url, apiKey, codebaseDir)) as {
      statuses: number[];
      codebase: { id: string; name: string; path: string; description: string };
      listedNames: string[];
      task: Record<string, unknown>;
      recommended: string | null;
      providers: string[];
      recommendedFlags: boolean[];
      missing: { status: number; detail: string | undefined };
    };

    assert.deepEqual(outcome.statuses, [201, 200, 201, 200]);
    assert.equal(outcome.codebase.name, "typed-client");
    assert.equal(outcome.codebase.path, codebaseDir);
    assert.equal(outcome.codebase.description, "made by a generated client");
    assert.deepEqual(outcome.listedNames, ["typed-client"]);
    assert.deepEqual(outcome.task, {
      codebase_id: outcome.codebase.id,
      title: "Add tests",
      status: "pending",
      priority: 5,
      agent_type: "build",
      attempts: 0,
      max_attempts: 3,
    });
    assert.equal(outcome.recommended, null, "this server has no OpenCode: nothing can run");
    assert.ok(outcome.providers.includes("anthropic"));
    assert.equal(outcome.recommendedFlags.filter(Boolean).length, 0);
    assert.deepEqual(outcome.missing, { status: 404, detail: "Codebase not found" });
  });
});
