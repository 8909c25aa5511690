/** What every service verb receives: the database, the event log, the OpenCode bridge and the settings. */
import type { Config } from "../config.js";
import type { Caller } from "../contracts/access.js";
import type { Database } from "../db/client.js";
import type { WorktreeManager } from "../git/worktrees.js";
import type { Logger } from "../observability/log.js";
import type { Metrics } from "../observability/metrics.js";
import type { Bridge } from "../opencode/bridge.js";
import type { KeyAuthenticator } from "./access/authenticator.js";
import type { EventLog } from "./events/log.js";
import type { TaskCodebases } from "./tasks/task-codebases.js";
import type { TaskWake } from "./tasks/task-wake.js";

export interface ServiceContext {
  /** This server process, as the owner of the runs it starts (see run-liveness.ts). */
  instanceId: string;
  database: Database;
  config: Config;
  events: EventLog;
  bridge: Bridge;
  /** The server's own task runner, as the verbs need it (not the runner itself, which needs them). */
  localRunner: LocalRunnerControl;
  /** The worktrees of runs on this machine, under the directory CodeTether owns (see git/worktrees.ts). */
  worktrees: WorktreeManager;
  /** Who a bearer token stands for (see access/authenticator.ts). */
  access: KeyAuthenticator;
  /** Wakes claims waiting for work (see task-wake.ts). */
  taskWake: TaskWake;
  /** Which codebase the tasks this process claimed lately are of (see task-codebases.ts). */
  taskCodebases: TaskCodebases;
  log: Logger;
  metrics: Metrics;
  /**
   * Aborts when the server shuts down, so long-lived streams end and let it stop; in a request's context, also when
   * the caller's key is revoked, so its open streams end.
   */
  shutdown: AbortSignal;
  /** Who is calling, in a request's context (`withCaller`); absent for the server's own work, which sees everything. */
  caller?: Caller;
  /** The request's id (X-Request-Id), for the audit trail. */
  requestId?: string;
}

/** What task verbs ask of the server's own runner. */
export interface LocalRunnerControl {
  /** Another task may be runnable now: look without waiting for the next poll. */
  poke(): void;
  /** Asks a task this process runs to stop. */
  cancel(taskId: string): void;
}
