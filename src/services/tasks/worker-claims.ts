/**
 * The worker protocol's claim: one that waits for work (long poll), of one task or
 * several in one call, each with a lease token of its own (several outcomes in one
 * call: completions.ts).
 */

import { assertSpeaksFor } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import { claimTasksWaiting } from "./claims.js";
import type { Claim } from "./tasks.types.js";
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
