/** Builds the service context one server process runs on, and tears it down in order. */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { type Config, worktreeRoot } from "./config.js";
import type { Database } from "./db/client.js";
import { WorktreeManager } from "./git/worktrees.js";
import { createLogger, type Logger } from "./observability/log.js";
import { Metrics } from "./observability/metrics.js";
import { TransitionObserver } from "./observability/transitions.js";
import { Bridge } from "./opencode/bridge.js";
import { LocalRunner } from "./runner/local-runner.js";
import { KeyAuthenticator } from "./services/access/authenticator.js";
import type { ServiceContext } from "./services/context.js";
import { EventLog } from "./services/events/log.js";
import { startRetention } from "./services/events/retention.js";
import { RunLiveness } from "./services/sessions/run-liveness.js";
import { TaskCodebases } from "./services/tasks/task-codebases.js";
import { TaskWake } from "./services/tasks/task-wake.js";
import { countTasksByStatus } from "./services/tasks/tasks.js";
import { countOnlineWorkers } from "./services/tasks/workers.js";
import { WebhookDispatcher } from "./services/webhooks/dispatcher.js";
import { startWorktreeCleanup } from "./services/worktrees/cleanup.js";

/** How long a shutdown waits for runs' ends to be recorded (an outage could make it wait forever). */
const stopAllGraceMs = 5000;

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
  /** The process's logger (default: one at the configured level with no secrets to scrub). */
  log?: Logger;
}): Promise<Services> {
  const log = options.log ?? createLogger({ name: "codetether", level: options.config.logLevel, secrets: [] });
  const events = new EventLog(options.database, { window: { maxBytes: options.config.streamWindowBytes, maxEvents: 10_000 } });
  await events.start();
  const taskWake = new TaskWake(options.database);
  await taskWake.start();
  const access = new KeyAuthenticator(options.database, log);
  await access.start();
  const bridge = new Bridge(options.config.opencode, options.opencodeEnv, log);
  const metrics = new Metrics({
    streamsOpen: () => events.streamsOpen,
    opencodeUp: () => bridge.connection.status().state === "ready",
    // Read at scrape time, when `ctx` below exists.
    tasksByStatus: () => countTasksByStatus({ ctx }),
    workersOnline: () => countOnlineWorkers({ ctx }),
  });
  bridge.onRestart(() => metrics.opencodeRestarts.inc());
  const transitions = new TransitionObserver(log, metrics);
  events.observe((streamId, stored) => transitions.stored(streamId, stored));
  const shutdown = new AbortController();
  // Every open stream listens for the shutdown: many listeners are expected, not a leak.
  setMaxListeners(0, shutdown.signal);
  const localRunner = new LocalRunner(() => ctx);
  const liveness = new RunLiveness(() => ctx);
  const webhooks = new WebhookDispatcher(() => ctx);
  const worktrees = new WorktreeManager({
    root: worktreeRoot(options.config),
    poolSize: options.config.worktrees.poolSize,
    warn: (message, err) => log.warn({ err }, message),
    ...bridge.worktreeHooks(),
  });
  const ctx: ServiceContext = {
    instanceId: randomUUID(),
    worktrees,
    database: options.database,
    config: options.config,
    events,
    bridge,
    localRunner,
    log,
    metrics,
    taskWake,
    taskCodebases: new TaskCodebases(),
    access,
    shutdown: shutdown.signal,
  };
  await liveness.start();
  await webhooks.start();
  // OpenCode boots in the background: the first trigger does not pay for it, /status says "starting" meanwhile.
  bridge.warmUp();
  localRunner.start();
  const stopRetention = startRetention({ ctx });
  const stopWorktreeCleanup = startWorktreeCleanup({ ctx });
  return {
    ctx,
    stop: async () => {
      stopRetention();
      stopWorktreeCleanup();
      await localRunner.stop(); // hands its tasks back
      liveness.stop();
      // Triggered runs end as aborted, recorded while the streams are still open and before the
      // database closes, so connected clients see the end and nobody waits on them.
      const stopped = bridge.runner.stopAll("The server shut down while the agent was running");
      await Promise.race([stopped, new Promise((r) => setTimeout(r, stopAllGraceMs).unref())]);
      await events.followersCaughtUp(1000);
      shutdown.abort(); // ends the streams and waiting claims
      await stopped;
      await bridge.stop();
      await worktrees.drainPool();
      await webhooks.stop();
      await events.stop();
      await taskWake.stop();
      await access.stop();
    },
  };
}
