/**
 * A real CodeTether server with an API key, driving the real `opencode` against the
 * scripted model: what the SDK test talks to. Like test/support/agent-server.ts, plus the key.
 */
import { freePort } from "../../src/opencode/process.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { pgliteDriver } from "../support/db.js";
import { type FakeLlm, startFakeLlm } from "../support/fake-llm.js";
import { testConfig } from "../support/harness.js";
import { createOpencodeSandbox, type OpencodeSandbox } from "../support/opencode-sandbox.js";

export interface LiveServer {
  server: RunningServer;
  llm: FakeLlm;
  sandbox: OpencodeSandbox;
  apiKey: string;
  close(): Promise<void>;
}

export async function startLiveServer(apiKey: string): Promise<LiveServer> {
  const llm = await startFakeLlm();
  const sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
  const db = await pgliteDriver.create();
  const config = testConfig({ dataDir: sandbox.root, apiKey });
  config.opencode = { ...config.opencode, host: "127.0.0.1", port: await freePort() };
  const server = await startServer({ config, database: db.database, opencodeEnv: sandbox.env });
  return {
    server,
    llm,
    sandbox,
    apiKey,
    async close() {
      await server.close(2000);
      await db.drop();
      await llm.close();
      await sandbox.cleanup();
    },
  };
}
