/**
 * @codetether/sdk as a user gets it: built and packed, installed from the tarball into a
 * project outside this repository, type-checked strictly (skipLibCheck off, so a broken
 * declaration file fails), and run against a real server with an API key, the real
 * `opencode` and the scripted model. The quickstart it runs is the README's.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { pgliteDriver } from "../support/db.js";
import { startDroppingProxy } from "../support/proxy.js";
import { buildSdk } from "../support/sdk-build.js";

type Sdk = typeof import("../../sdk/src/index.js");
type AgentEvent = import("../../sdk/src/index.js").AgentEvent;

const exec = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sdkDir = path.join(repoRoot, "sdk");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const apiKey = "sdk-test-key-0123456789";
const timeout = 180_000;

/** Runs a command, failing with its output when it fails. */
async function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  try {
    return await exec(cmd, args, { cwd, env, maxBuffer: 32 * 1024 * 1024, timeout: 300_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    assert.fail(`${cmd} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

const nodeTsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2023"],
    types: ["node"],
    strict: true,
    skipLibCheck: false,
    outDir: "dist",
    rootDir: "src",
  },
  include: ["src/quickstart.ts", "src/request-info.d.ts"],
};

/** A browser project: the DOM and no Node types, so the declarations must not lean on Node. */
const browserTsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "ESNext",
    moduleResolution: "Bundler",
    // @trpc/server's declarations name Disposable and AsyncDisposable (Node's types have them; see sdk/README.md).
    lib: ["ES2023", "ESNext.Disposable", "DOM", "DOM.Iterable"],
    types: [],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
  },
  include: ["src/browser.ts"],
};

/** Events until the first `complete`, then stops. */
async function untilComplete(events: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const seen: AgentEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (event.type === "complete") break;
  }
  return seen;
}

describe("@codetether/sdk, packed and installed like a user's", { timeout: 900_000 }, () => {
  let work: string;
  let consumer: string;
  let tarball: string;
  let sdk: Sdk;
  let live: AgentServer;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "ct-sdk-"));
    consumer = path.join(work, "consumer");
    await mkdir(path.join(consumer, "src"), { recursive: true });

    await buildSdk();
    // prepack would build again; the build above is the one under test.
    await run(npm, ["pack", "--ignore-scripts", "--pack-destination", work], sdkDir);
    const packed = (await readdir(work)).filter((f) => f.endsWith(".tgz"));
    assert.equal(packed.length, 1, packed.join(", "));
    tarball = path.join(work, packed[0]!);

    await writeFile(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    await run(npm, ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball, "@types/node@20.19.25"], consumer);
    await copyFile(path.join(sdkDir, "examples/quickstart.ts"), path.join(consumer, "src/quickstart.ts"));
    await copyFile(path.join(sdkDir, "examples/browser.ts"), path.join(consumer, "src/browser.ts"));
    // @trpc/client's declarations name the DOM type RequestInfo, which Node's types lack (see sdk/README.md).
    await writeFile(path.join(consumer, "src/request-info.d.ts"), "type RequestInfo = Request | string;\n");
    await writeFile(path.join(consumer, "tsconfig.json"), JSON.stringify(nodeTsconfig, null, 2));
    await writeFile(path.join(consumer, "tsconfig.browser.json"), JSON.stringify(browserTsconfig, null, 2));

    sdk = (await import(pathToFileURL(path.join(consumer, "node_modules/@codetether/sdk/dist/index.js")).href)) as Sdk;
    live = await startAgentServer(pgliteDriver, { apiKey });
  });

  after(async () => {
    await live?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test("publint and attw --pack find nothing wrong with the package as published", { timeout }, async () => {
    const bin = (name: string) => path.join(repoRoot, "node_modules/.bin", name);
    const lint = await run(bin("publint"), ["--strict", "."], sdkDir);
    assert.match(lint.stdout, /All good/, lint.stdout);
    // ESM only by design: the CommonJS resolution modes are the ones the profile leaves out.
    await run(bin("attw"), [tarball, "--profile", "esm-only", "--format", "table-flipped"], sdkDir);
  });

  test("the package ships only dist/, and neither its code nor its types reach the server's", async () => {
    const { stdout } = await run("tar", ["-tzf", tarball], work);
    assert.deepEqual(stdout.trim().split("\n").sort(), ["package/README.md", "package/dist/index.d.ts", "package/dist/index.js", "package/package.json"]);
    const dist = path.join(consumer, "node_modules/@codetether/sdk/dist");
    const specifiers = (code: string) => [...code.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    const js = specifiers(await readFile(path.join(dist, "index.js"), "utf8"));
    const dts = specifiers(await readFile(path.join(dist, "index.d.ts"), "utf8"));
    assert.deepEqual([...new Set(js)].sort(), ["@trpc/client", "eventsource", "superjson"]);
    for (const spec of dts) {
      assert.ok(!spec.startsWith("."), `index.d.ts imports ${spec}`);
      assert.ok(!/drizzle|pglite|postgres|hono|@electric-sql|node:/.test(spec), `index.d.ts imports ${spec}`);
    }
    // Each package the types import is one the SDK depends on, so a user's install has it.
    const { dependencies } = JSON.parse(await readFile(path.join(sdkDir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    for (const spec of dts) {
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
      assert.ok(name in dependencies, `index.d.ts imports ${spec}, not a dependency`);
    }
  });

  test("the READMEs quote the examples verbatim (one source of truth)", async () => {
    const quotes = async (readmePath: string, example: string) => {
      const readme = await readFile(readmePath, "utf8");
      const code = await readFile(path.join(sdkDir, "examples", example), "utf8");
      assert.ok(readme.includes("```ts\n" + code + "```"), `${path.relative(repoRoot, readmePath)} does not quote examples/${example} as it is`);
    };
    for (const example of ["quickstart.ts", "browser.ts"]) await quotes(path.join(sdkDir, "README.md"), example);
    await quotes(path.join(repoRoot, "README.md"), "quickstart.ts");
  });

  test("the quickstart type-checks strictly (skipLibCheck off), as Node and as browser code", { timeout }, async (t) => {
    const tsc = path.join(repoRoot, "node_modules/typescript/bin/tsc");
    await run(process.execPath, [tsc, "-p", "tsconfig.json"], consumer);
    await run(process.execPath, [tsc, "-p", "tsconfig.browser.json"], consumer);
    // The TypeScript npm gave the user (a peer of @trpc/server), if any: a newer one must agree.
    const own = path.join(consumer, "node_modules/.bin/tsc");
    const hasOwn = await readFile(own).then(
      () => true,
      () => false,
    );
    if (hasOwn) {
      await run(own, ["-p", "tsconfig.json", "--noEmit"], consumer);
      await run(own, ["-p", "tsconfig.browser.json"], consumer);
      t.diagnostic(`also checked with the project's own TypeScript ${(await run(own, ["--version"], consumer)).stdout.trim()}`);
    }
  });

  test("the quickstart runs against a live server: codebase, models, a run's events, a resumed stream", { timeout }, async () => {
    const repo = await live.sandbox.createCodebase("quickstart");
    live.llm.setScript([
      { tool: "write", args: { filePath: "hello.txt", content: "Hello from the agent!\n" } },
      { text: "I created hello.txt with a greeting.", chunks: 3 },
    ]);
    const { stdout } = await run(process.execPath, [path.join(consumer, "dist/quickstart.js")], consumer, {
      ...process.env,
      CODETETHER_URL: live.server.url,
      CODETETHER_API_KEY: apiKey,
      CODEBASE_PATH: repo,
    });
    assert.match(stdout, /^models: \d+, recommended \S+\/\S+$/m);
    assert.match(stdout, /^codebase: quickstart \S+$/m);
    assert.match(stdout, /^session: ses_\S+$/m);
    assert.match(stdout, /^file created: hello\.txt$/m);
    assert.match(stdout, /^agent said: I created hello\.txt with a greeting\.$/m);
    const total = Number(/^run completed after (\d+) events$/m.exec(stdout)?.[1]);
    const resumed = /^resumed after event (\d+): (\d+) later events$/m.exec(stdout);
    assert.ok(total > 2 && resumed, stdout);
    assert.equal(Number(resumed[2]), total - 2, "resuming after the 2nd event yields exactly the rest");
    assert.match(stdout, /^diff: added hello\.txt \+1 -0 on codetether\/\S+$/m);
    assert.match(stdout, /^applied: hello\.txt into \S+ at [0-9a-f]{8}$/m);
    // Only applying put it in the repository.
    assert.equal(await readFile(path.join(repo, "hello.txt"), "utf8"), "Hello from the agent!\n");
  });

  test("calls are typed end to end; a wrong key and server errors surface as TRPCClientError", { timeout }, async () => {
    const ct = sdk.createCodeTetherClient({ url: live.server.url, apiKey });
    const repo = await live.sandbox.createCodebase("typed");
    const codebase = await ct.createCodebase({ name: "typed", path: repo, agent_config: { auto_approve: true } });
    assert.ok((await ct.listCodebases()).some((c) => c.id === codebase.id));
    // The raw router client is there too, batched with the rest.
    const [one, models] = await Promise.all([ct.trpc.codebases.get.query({ id: codebase.id }), ct.trpc.models.list.query()]);
    assert.deepEqual(one, codebase);
    assert.ok(models.models.some((m) => m.id === models.recommended));

    const conflict = await ct.createCodebase({ name: "typed", path: repo }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(sdk.isTRPCClientError(conflict));
    assert.equal((conflict.data as { code?: string } | undefined)?.code, "CONFLICT");

    const wrong = sdk.createCodeTetherClient({ url: live.server.url, apiKey: "not-the-key" });
    const denied = await wrong.listCodebases().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(denied instanceof sdk.TRPCClientError);
    assert.match(denied.message, /^401: Not authenticated/);
    assert.ok(denied.cause instanceof sdk.RefusedKeyError);
    assert.ok(sdk.isUnauthorized(denied), "a refused key tells itself apart, by type");
    assert.ok(!sdk.isUnauthorized(conflict));
    // A stream refused at the edge (the key in a header, as Node sends it) says the same.
    const stream = await untilComplete(wrong.events(codebase.id)).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(sdk.isUnauthorized(stream), String(stream));
  });

  test("triggerAndWait and createTask: runs end with complete, and tasks run on the server", { timeout }, async () => {
    const ct = sdk.createCodeTetherClient({ url: live.server.url, apiKey });
    const codebase = await ct.createCodebase({ name: "tasks", path: await live.sandbox.createCodebase("tasks") });
    live.llm.setScript([{ text: "Waited for.", chunks: 2 }]);
    const seen: string[] = [];
    const result = await ct.triggerAndWait(codebase.id, { prompt: "Say something" }, { onEvent: (e) => seen.push(e.type) });
    assert.equal(result.complete.status, "completed");
    assert.deepEqual(
      seen,
      result.events.map((e) => e.type),
    );
    assert.equal(result.events.at(-1)?.type, "complete");
    assert.equal(result.events[0]!.id, result.response.last_event_id + 1, "starts right after the trigger's cursor");

    live.llm.setScript([{ text: "Task done." }]);
    const head = result.events.at(-1)!.id;
    const task = await ct.createTask(codebase.id, { title: "A task", prompt: "Do the task" });
    assert.equal(task.status, "pending");
    const events = ct.events(codebase.id, { lastEventId: head });
    let done: AgentEvent | undefined;
    for await (const event of events) {
      if (event.type === "complete" && event.data.task_id === task.id) {
        done = event;
        break;
      }
    }
    assert.equal(done?.type === "complete" && done.data.status, "completed");
    assert.equal((await ct.trpc.tasks.get.query({ id: task.id })).status, "completed");
  });

  test("a subscription resumes after the connection drops: no event lost, none repeated", { timeout }, async () => {
    const proxy = await startDroppingProxy({ host: "127.0.0.1", port: live.server.port });
    try {
      const ct = sdk.createCodeTetherClient({ url: proxy.url, apiKey });
      const codebase = await ct.createCodebase({ name: "flaky", path: await live.sandbox.createCodebase("flaky") });
      const text = "one two three four five six seven eight nine ten";
      live.llm.setScript([{ text, chunks: 10, chunkDelayMs: 400 }]);
      const run = await ct.trigger(codebase.id, { prompt: "Count slowly" });
      const seen: AgentEvent[] = [];
      let connectionsAtDrop = -1;
      for await (const event of run) {
        seen.push(event);
        if (connectionsAtDrop < 0 && event.type === "output") {
          connectionsAtDrop = proxy.connections;
          proxy.drop(); // mid-run: more output is still to come
        }
      }
      assert.ok(connectionsAtDrop > 0, "dropped mid-run");
      assert.ok(proxy.connections > connectionsAtDrop, "the stream reconnected");
      const ids = seen.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, `no repeats: ${ids.join(",")}`);
      // The same run read in one go, with no drop: exactly the same events.
      const direct = sdk.createCodeTetherClient({ url: live.server.url, apiKey });
      const whole = await untilComplete(direct.events(codebase.id, { sessionId: run.response.session_id!, lastEventId: run.response.last_event_id }));
      assert.deepEqual(
        ids,
        whole.map((e) => e.id),
      );
      const said = seen.flatMap((e) => (e.type === "output" ? [e.data.content] : [])).join("");
      assert.equal(said, text);
    } finally {
      await proxy.close();
    }
  });

  test("with a header-less EventSource (as in browsers) the key goes as connection params", { timeout }, async () => {
    // The `eventsource` package without a custom fetch sends no Authorization header: a native EventSource's limits.
    const { EventSource } = (await import(pathToFileURL(path.join(consumer, "node_modules/eventsource/dist/index.js")).href)) as {
      EventSource: NonNullable<Parameters<Sdk["createCodeTetherClient"]>[0]["EventSource"]>;
    };
    const ct = sdk.createCodeTetherClient({ url: live.server.url, apiKey, EventSource });
    const [codebase] = await ct.listCodebases();
    assert.ok(codebase);
    const events = await untilComplete(ct.events(codebase.id, { lastEventId: 0 }));
    assert.equal(events[0]?.id, 1);

    const keyless = sdk.createCodeTetherClient({ url: live.server.url, EventSource });
    const denied = await untilComplete(keyless.events(codebase.id)).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(sdk.isTRPCClientError(denied));
    assert.match(denied.message, /401/);
    assert.ok(sdk.isUnauthorized(denied));
  });
});
