/**
 * The worker protocol's claim and batch verbs: a claim that waits for work (long
 * poll), claiming several tasks in one call, and reporting several outcomes in one
 * call. Each task still has its own lease token and is fenced by it.
 */

import { ServiceError } from "../../contracts/errors.js";
import { assertSpeaksFor } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import { claimTasksWaiting } from "./claims.js";
import { completeTask } from "./reports.js";
import type { Claim, CompleteManyRequest, CompletionResult } from "./tasks.types.js";
import { workerHeardFrom } from "./workers.js";

/** Workers beat every 5 s: a waiting claim whose worker has been silent longer than this stops waiting. */
const heartbeatGraceMs = 12_000;

export interface ClaimOptions {
  /** Most tasks to take (1 for the single-task claim). */
  max: number;
  /** How long to wait for work when there is none (0: answer at once). */
  waitSeconds: number;
  /** Aborts when the worker hangs up: tasks claimed for it after that are handed back at once. */
  signal?: AbortSignal;
  /**
   * Whether the worker's connection is gone already. The request's signal can lag the socket's
   * close by a turn of the event loop; a claim made in that turn must be handed back too.
   */
  gone?: () => boolean;
}

/** Claims for a registered worker (a 404 for one that is not); none while it drains. */
export async function claimForWorker({ ctx, name, ...options }: { ctx: ServiceContext; name: string } & ClaimOptions): Promise<Claim[]> {
  assertSpeaksFor(ctx, name);
  // A worker frozen mid-wait (SIGSTOP, a paused VM) keeps its request open but stops its heartbeats:
  // such a wait must not take work it cannot do.
  const stillThere = () => workerHeardFrom(ctx, name, heartbeatGraceMs);
  return await claimTasksWaiting({
    ctx,
    claimant: { kind: "worker", name },
    max: options.max,
    waitMs: options.waitSeconds * 1000,
    signal: options.signal,
    gone: options.gone,
    stillThere,
  });
}

/**
 * Reports several attempts' outcomes; each is checked against its own lease and
 * answered on its own (a lost lease fails that item, not the batch). Repeating a
 * batch repeats nothing: every report is idempotent.
 */
export async function completeMany({ ctx, input }: { ctx: ServiceContext; input: CompleteManyRequest }): Promise<CompletionResult[]> {
  const results: CompletionResult[] = [];
  for (const { task_id, ...report } of input.completions) {
    try {
      results.push({ task_id, ok: true, task: await completeTask({ ctx, taskId: task_id, input: report }) });
    } catch (err) {
      if (!(err instanceof ServiceError) || !["CONFLICT", "LEASE_LOST", "NOT_FOUND"].includes(err.code)) throw err;
      results.push({ task_id, ok: false, error: err.code === "NOT_FOUND" ? "not_found" : "conflict", detail: err.message });
    }
  }
  return results;
}
