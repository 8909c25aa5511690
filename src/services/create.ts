/** Builds the service context one server process runs on, and tears it down in order. */
import { randomUUID } from "node:crypto";
import type { Config } from "../config.js";
import type { Database } from "../db/client.js";
import { Bridge } from "./bridge.js";
import type { ServiceContext } from "./context.js";
import { EventLog } from "./event-log.js";
import { LocalRunner } from "./local-runner.js";
import { RunLiveness } from "./run-liveness.js";

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
  const liveness = new RunLiveness(() => ctx);
  const ctx: ServiceContext = {
    instanceId: randomUUID(),
    database: options.database,
    config: options.config,
    events,
    bridge,
    localRunner,
    shutdown: shutdown.signal,
  };
  await liveness.start();
  // OpenCode boots in the background: the first trigger does not pay for it, /status says "starting" meanwhile.
  bridge.warmUp();
  localRunner.start();
  return {
    ctx,
    stop: async () => {
      shutdown.abort();
      await localRunner.stop(); // hands its tasks back
      liveness.stop();
      // Triggered runs end as aborted, recorded before the database closes, so no client waits on them.
      await bridge.runner.stopAll("The server shut down while the agent was running");
      await bridge.stop();
      await events.stop();
    },
  };
}
