/**
 * The server of this checkout, or of another one (BENCH_BEFORE): the benchmarks that run a server in their own
 * process load `startServer`, `testConfig` and the test drivers from the checkout being measured, so before and
 * after run side by side in one run.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { startServer } from "../src/server.js";
import type { TestDriver } from "../test/support/db.js";
import { testConfig } from "../test/support/harness.js";

export interface Checkout {
  startServer: typeof startServer;
  testConfig: typeof testConfig;
  /** The same kind of database as `driver`, made by the checkout's own test support. */
  driverOf(driver: TestDriver): TestDriver;
}

/** The checkout at `root` (this one when absent). */
export async function checkoutAt(root: string | undefined): Promise<Checkout> {
  if (!root) return { startServer, testConfig, driverOf: (d) => d };
  const load = (file: string) => import(pathToFileURL(path.join(root, file)).href);
  const [server, harness, db] = await Promise.all([load("src/server.ts"), load("test/support/harness.ts"), load("test/support/db.ts")]);
  const url = process.env.DATABASE_URL?.trim() ?? "";
  return {
    startServer: server.startServer,
    testConfig: harness.testConfig,
    driverOf: (d) => (d.name === "pglite" ? db.pgliteDriver : db.postgresDriver(url)),
  };
}
