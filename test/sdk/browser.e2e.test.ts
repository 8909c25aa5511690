/**
 * The SDK in a real browser: Debian's Chromium (driven by playwright-core, never a
 * downloaded browser) loads a page that bundles the built SDK and the README's
 * browser example, served from the API's own origin (the server sends no CORS
 * headers), and runs an agent through it against the real OpenCode.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { chromiumMissing, launchChromium } from "../support/chromium.js";
import { pgliteDriver } from "../support/db.js";
import { buildSdk } from "../support/sdk-build.js";
import { needs } from "../support/skip.js";
import type { PageRun } from "./browser-result.js";

const exec = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const apiKey = "browser-test-key-0123456789";

/**
 * Serves the test page and its script at `/` and `/app.js`, and passes everything
 * else through to the API server, streams included: one origin for both.
 */
async function startSameOrigin(api: string, script: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(api);
  const page = `<!doctype html><meta charset="utf-8"><title>CodeTether SDK</title><script type="module" src="/app.js"></script>`;
  const server = http.createServer((req, res) => {
    if (req.url === "/") return void res.writeHead(200, { "content-type": "text/html" }).end(page);
    if (req.url === "/app.js") return void res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe(
  "@codetether/sdk in Chromium",
  { timeout: 300_000 },
  needs(chromiumMissing, () => {
    let live: AgentServer;
    let origin: Awaited<ReturnType<typeof startSameOrigin>>;
    let browser: Browser;

    before(async () => {
      await buildSdk();
      await exec(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "test/sdk/browser"], { cwd: repoRoot });
      const bundle = await build({
        entryPoints: [path.join(repoRoot, "test/sdk/browser/page.ts")],
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        write: false,
        logLevel: "silent",
      });
      live = await startAgentServer(pgliteDriver, { apiKey });
      origin = await startSameOrigin(live.server.url, bundle.outputFiles[0]!.text);
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await origin?.close();
      await live?.close();
    });

    test("batched calls, a run followed to its end with both EventSource flavours, and resumption from a cursor", async () => {
      const dir = await live.sandbox.createCodebase("browser");
      const codebase = await live.api("POST", "/v1/opencode/codebases", { name: "browser", path: dir });
      assert.equal(codebase.status, 201);
      live.llm.setScript([{ text: "Hello from the agent, in a browser.", chunks: 4 }]);

      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(err.message));
      await page.goto(origin.url);
      await page.waitForFunction(() => "codetetherTest" in globalThis);
      const result = await page.evaluate(
        ([key, id]) => (globalThis as unknown as { codetetherTest: PageRun }).codetetherTest(key!, id!),
        [apiKey, codebase.body.id as string],
      );
      assert.deepEqual(errors, []);

      assert.ok(result.models > 0);
      assert.equal(result.said, "Hello from the agent, in a browser.");
      assert.equal(result.types[0], "status");
      assert.equal(result.types.at(-1), "complete");
      assert.deepEqual(result.nativeTypes, result.types, "the native EventSource (key as connection params) saw the same run");
      assert.ok(result.resumedIds.length > 0 && result.resumedIds.every((id) => id > result.resumedAfter), "resumed after the cursor only");
      assert.equal(result.resumedIds.length, result.types.length - 2, "every event after the second one, once");
      const session = await live.api("GET", `/v1/opencode/codebases/${codebase.body.id}/sessions/${result.sessionId}`);
      assert.equal(session.body.status, "completed");
    });
  }),
);
