/** Builds the service context one server process runs on, and tears it down in order. */
import type { Config } from "../config.js";
import type { Database } from "../db/client.js";
import { Bridge } from "./bridge.js";
import type { ServiceContext } from "./context.js";
import { EventLog } from "./event-log.js";
import { LocalRunner } from "./local-runner.js";

export interface Services {
  ctx: ServiceContext;
  /** Ends streams, stops the OpenCode bridge, stops listening; the database is closed by its owner. */
  stop(): Promise<void>;
}

export async function createServices(options: {
  database: Database;
  config: Config;
  /** Environment of a managed `opencode serve` (default: this process's). */
  opencodeEnv?: NodeJS.ProcessEnv;
}): Promise<Services> {
  const events = new EventLog(options.database);
  await events.start();
  const bridge = new Bridge(options.config.opencode, options.opencodeEnv);
  const shutdown = new AbortController();
  const localRunner = new LocalRunner(() => ctx);
  const ctx: ServiceContext = { database: options.database, config: options.config, events, bridge, localRunner, shutdown: shutdown.signal };
  localRunner.start();
  return {
    ctx,
    stop: async () => {
      shutdown.abort();
      await localRunner.stop();
      await bridge.stop();
      await events.stop();
    },
  };
}
