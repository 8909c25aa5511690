/**
 * A CodeTether server on a real socket whose bridge drives the real `opencode`
 * against the scripted model, all inside one sandbox. For end-to-end tests and benchmarks.
 */
import { freePort } from "../../src/opencode/process.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { type TestDriver, pgliteDriver } from "./db.js";
import { type FakeLlm, startFakeLlm } from "./fake-llm.js";
import { testConfig } from "./harness.js";
import { createOpencodeSandbox, type OpencodeSandbox } from "./opencode-sandbox.js";

export interface AgentServer {
  server: RunningServer;
  llm: FakeLlm;
  sandbox: OpencodeSandbox;
  /** JSON request against the server; returns status and parsed body. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** `apiKey` sets CODETETHER_API_KEY on the server; `api()` then sends it. */
export async function startAgentServer(driver: TestDriver = pgliteDriver, options: { apiKey?: string } = {}): Promise<AgentServer> {
  const llm = await startFakeLlm();
  const sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
  const db = await driver.create();
  const config = testConfig({ dataDir: sandbox.root, apiKey: options.apiKey });
  config.opencode = { ...config.opencode, host: "127.0.0.1", port: await freePort(), autoStart: true };
  const server = await startServer({ config, database: db.database, opencodeEnv: sandbox.env });
  return {
    server,
    llm,
    sandbox,
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
