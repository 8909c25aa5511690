/**
 * The server's own task runner: claims tasks for codebases that have no worker
 * and runs them through this process's OpenCode bridge, exactly as a worker
 * would, with the queue verbs called in-process instead of over HTTP.
 */

import { ServiceError } from "../contracts/errors.js";
import { workingDirectory } from "../opencode/run-settings.js";
import { getCodebaseRow } from "../services/codebases/codebases.js";
import { realInside } from "../services/codebases/paths.js";
import type { ServiceContext } from "../services/context.js";
import { runnableIds } from "../services/models/models.js";
import { recordMessages } from "../services/sessions/session-store.js";
import { claimTask } from "../services/tasks/claims.js";
import { completeTask } from "../services/tasks/completions.js";
import { heartbeatTask, releaseTask, sweepExpiredLeases } from "../services/tasks/leases.js";
import { uploadTaskEvents } from "../services/tasks/reports.js";
import type { Claim } from "../services/tasks/tasks.types.js";
import { announceOfflineWorkers, noticeWorkerPresence } from "../services/tasks/workers.js";
import { localRecorder, openLocalWorkspace } from "../services/worktrees/local.js";
import type { OpenedWorkspace } from "../workspace/workspace.js";
import { executeTask, LeaseLostError, type TaskReporter } from "./execute.js";

const pollMs = 1000;
const sweepMs = 2000;

function fenced<T>(call: () => Promise<T>): Promise<T> {
  return call().catch((err) => {
    if (err instanceof ServiceError && err.code === "LEASE_LOST") throw new LeaseLostError();
    throw err;
  });
}

export class LocalRunner {
  /** Per running task: abort `cancel` to cancel it, `release` to hand it back. */
  private readonly running = new Map<string, { cancel: AbortController; release: AbortController }>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly ctx: () => ServiceContext) {}

  /** Starts claiming (if concurrency > 0) and sweeping lapsed leases. */
  start(): void {
    const { config } = this.ctx();
    // Leases this process could not have refreshed while it was down get one lease period of grace.
    const firstSweep = setTimeout(() => {
      this.sweeper = setInterval(() => void this.sweep(), sweepMs);
      void this.sweep();
    }, config.leaseSeconds * 1000);
    firstSweep.unref();
    this.stopping.signal.addEventListener("abort", () => clearTimeout(firstSweep));
    if (config.localConcurrency > 0) this.loop = this.claimLoop();
  }

  /** Another task may be runnable now: look without waiting for the next poll. */
  poke(): void {
    this.wake?.();
  }

  /** Asks a task this process runs to stop (its heartbeat would tell it within seconds anyway). */
  cancel(taskId: string): void {
    this.running.get(taskId)?.cancel.abort();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.sweeper) clearInterval(this.sweeper);
    this.poke();
    await this.loop;
  }

  private async sweep(): Promise<void> {
    try {
      await sweepExpiredLeases({ ctx: this.ctx() });
      this.workersOnline = await noticeWorkerPresence({ ctx: this.ctx(), wasOnline: this.workersOnline });
      await announceOfflineWorkers({ ctx: this.ctx() });
    } catch (err) {
      if (!this.stopping.signal.aborted) this.ctx().log.warn({ err }, "lease sweep failed");
    }
  }

  /** Workers online at the last sweep, to log the ones that go quiet. */
  private workersOnline: Set<string> | undefined;

  private async claimLoop(): Promise<void> {
    const ctx = this.ctx();
    const tasks = new Set<Promise<unknown>>();
    while (!this.stopping.signal.aborted) {
      let claim: Claim | null = null;
      if (this.running.size < ctx.config.localConcurrency) {
        claim = await claimTask({ ctx, claimant: { kind: "local", models: runnableIds(ctx.bridge.models.known()) } }).catch((err) => {
          this.ctx().log.warn({ err }, "claiming a task failed");
          return null;
        });
      }
      if (claim) {
        const run = this.run(claim).finally(() => tasks.delete(run));
        tasks.add(run);
        continue;
      }
      // The wait ends at the next poll, a poke, or the stop (a stop during the claim above included).
      if (this.stopping.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.stopping.signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, pollMs);
        this.wake = done;
        this.stopping.signal.addEventListener("abort", done, { once: true });
      });
      this.wake = null;
    }
    // Shutting down: hand back what is still running so it runs again elsewhere at once.
    for (const { release } of this.running.values()) release.abort();
    await Promise.allSettled(tasks);
  }

  private async run(claim: Claim): Promise<void> {
    const ctx = this.ctx();
    const controls = { cancel: new AbortController(), release: new AbortController() };
    this.running.set(claim.task.id, controls);
    const token = claim.lease_token;
    const id = claim.task.id;
    const codebaseDirectory = workingDirectory(claim.codebase);
    let directory = codebaseDirectory;
    const reporter: TaskReporter = {
      heartbeat: () => fenced(() => heartbeatTask({ ctx, taskId: id, token })),
      events: (events) => fenced(() => uploadTaskEvents({ ctx, taskId: id, input: { lease_token: token, events } })).then((r) => r.acked_through),
      complete: async (outcome) => {
        await fenced(() => completeTask({ ctx, taskId: id, input: { lease_token: token, ...outcome } }));
        if (outcome.session_id) {
          await recordMessages({ ctx, sessionId: outcome.session_id, directory }).catch((err) =>
            ctx.log.warn({ task_id: id, err }, "keeping the session's messages failed"),
          );
        }
      },
      release: (reason) => fenced(() => releaseTask({ ctx, taskId: id, token, reason })).then(() => {}),
      refused: (err) => err instanceof ServiceError && (err.code === "UNPROCESSABLE" || err.code === "BAD_REQUEST"),
    };
    try {
      if (!(await realInside(claim.codebase.path, codebaseDirectory))) {
        await reporter.complete({
          status: "failed",
          error: `The working directory leads outside the codebase (${claim.codebase.path}) through a symlink, or is gone: ${codebaseDirectory}`,
        });
        return;
      }
      let workspace: OpenedWorkspace;
      try {
        const codebase = await getCodebaseRow({ ctx, id: claim.codebase.id });
        workspace = await openLocalWorkspace({
          ctx,
          codebase,
          directory: codebaseDirectory,
          title: claim.task.title,
          baseRef: claim.task.base_ref ?? undefined,
        });
      } catch (err) {
        await reporter.complete({ status: "failed", error: `Could not prepare the task's worktree: ${(err as Error).message}` });
        return;
      }
      directory = workspace.directory;
      await executeTask({
        claim,
        workspace,
        recorder: localRecorder({ ctx, codebaseId: claim.codebase.id, taskId: id }),
        maxPatchBytes: ctx.config.worktrees.diffMaxBytes,
        runner: ctx.bridge.runner,
        reporter,
        heartbeatMs: Math.max(500, (ctx.config.leaseSeconds * 1000) / 3),
        release: controls.release.signal,
        cancel: controls.cancel.signal,
        log: (m) => ctx.log.info({ task_id: id }, m),
      });
    } catch (err) {
      ctx.log.error({ task_id: id, err }, "task failed to run");
    } finally {
      this.running.delete(id);
    }
  }
}
