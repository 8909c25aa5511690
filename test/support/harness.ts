/** An app over a real test database, driven through `app.request()`, plus a tRPC caller. */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Config, loadConfig } from "../../src/config.js";
import { createApp } from "../../src/http/app.js";
import type { Logger } from "../../src/observability/log.js";
import { createServices } from "../../src/runtime.js";
import type { ServiceContext } from "../../src/services/context.js";
import { createContextInner } from "../../src/trpc/init.js";
import { appRouter } from "../../src/trpc/router.js";
import type { TestDriver } from "./db.js";

export interface Harness {
  ctx: ServiceContext;
  app: ReturnType<typeof createApp>;
  trpc: ReturnType<typeof appRouter.createCaller>;
  /** A scratch directory that exists, for codebase paths. */
  tmp: string;
  request(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

/** A fetch Response whose JSON is untyped, as tests inspect arbitrary bodies. */
// biome-ignore lint/suspicious/noExplicitAny: test code reads arbitrary JSON
export type TestResponse = Omit<Response, "json"> & { json(): Promise<any> };

/**
 * Settings for a test server. Its OpenCode is unreachable and never started, unless
 * the test gives it a sandbox (see agent-server.ts): a real one would run with this
 * machine's own home directory and network.
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  // Quiet unless asked (LOG_LEVEL=debug node scripts/run-tests.mjs ...): the test output stays readable.
  const defaults = loadConfig({ LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" });
  return { ...defaults, port: 0, opencode: { ...defaults.opencode, host: "127.0.0.1", port: 9, autoStart: false }, ...overrides };
}

export async function createHarness(driver: TestDriver, overrides: Partial<Config> = {}, opencodeEnv?: NodeJS.ProcessEnv, log?: Logger): Promise<Harness> {
  const { database, drop } = await driver.create();
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-test-"));
  const services = await createServices({ database, config: testConfig({ dataDir: tmp, ...overrides }), opencodeEnv, log });
  const { ctx } = services;
  const app = createApp(ctx);
  const trpc = appRouter.createCaller(createContextInner(ctx));
  return {
    ctx,
    app,
    trpc,
    tmp,
    request: (method, url, body, headers = {}) =>
      Promise.resolve(
        app.request(url, {
          method,
          headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
          body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        }),
      ),
    close: async () => {
      await services.stop();
      await database.close().catch(() => {});
      await drop();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
