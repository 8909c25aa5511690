/**
 * A CodeTether server on a real socket whose bridge drives the real `opencode`
 * against the scripted model, all inside one sandbox. For end-to-end tests and benchmarks.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../../src/config.js";
import { freePort } from "../../src/opencode/process.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { pgliteDriver, type TestDriver } from "./db.js";
import { type FakeLlm, startFakeLlm } from "./fake-llm.js";
import { testConfig } from "./harness.js";
import { createOpencodeSandbox, type OpencodeSandbox, opencodeConfig } from "./opencode-sandbox.js";

export interface AgentServer {
  server: RunningServer;
  llm: FakeLlm;
  sandbox: OpencodeSandbox;
  /** The opencode.json the server's OpenCode reads, when started with `providerConfigFile`. */
  configFile: string | undefined;
  /** JSON request against the server; returns status and parsed body. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * `apiKey` sets CODETETHER_API_KEY on the server; `api()` then sends it. `providerConfigFile`
 * gives OpenCode its providers as a user would: an opencode.json named by
 * CODETETHER_OPENCODE_CONFIG (at `configFile`) instead of the sandbox's inline config.
 */
export async function startAgentServer(
  driver: TestDriver = pgliteDriver,
  options: {
    apiKey?: string;
    providerConfigFile?: boolean;
    localConcurrency?: number;
    config?: Partial<Config>;
    waitForOpencode?: boolean;
    /** false: no OpenCode at all (a test that runs no agent saves its boot and its memory). */
    opencode?: boolean;
  } = {},
): Promise<AgentServer> {
  const llm = await startFakeLlm();
  const sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
  const db = await driver.create();
  const config = testConfig({
    dataDir: sandbox.root,
    apiKey: options.apiKey,
    ...(options.localConcurrency === undefined ? {} : { localConcurrency: options.localConcurrency }),
    ...options.config,
  });
  config.opencode = { ...config.opencode, host: "127.0.0.1", port: await freePort(), autoStart: options.opencode !== false };
  const env = { ...sandbox.env };
  let configFile: string | undefined;
  if (options.providerConfigFile) {
    configFile = path.join(sandbox.root, "opencode.json");
    await writeFile(configFile, JSON.stringify(opencodeConfig(llm.url), null, 2));
    delete env.OPENCODE_CONFIG_CONTENT;
    config.opencode.providerConfig = { file: configFile };
  }
  const server = await startServer({ config, database: db.database, opencodeEnv: env });
  // OpenCode boots in the background; most tests want the warm server a user has a few seconds after start.
  if (options.waitForOpencode !== false && options.opencode !== false) {
    const until = Date.now() + 60_000;
    while (server.ctx.bridge.connection.status().state !== "ready" && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }
  return {
    server,
    llm,
    sandbox,
    configFile,
    async api(method, path, body) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await server.close(2000);
      await db.drop();
      await llm.close();
      await sandbox.cleanup();
    },
  };
}
