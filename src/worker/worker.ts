/**
 * `codetether-worker`: registers its codebases, claims tasks over HTTP, runs
 * them with a local OpenCode through the same bridge code the server uses,
 * streams their events back, and reports the outcome. It rides out server
 * restarts and network drops by retrying, and on SIGTERM finishes or hands back
 * what it holds.
 */
import type { OpencodeSettings } from "../config.js";
import type { RunnerModels } from "../contracts/models.js";
import { ApplyConflict } from "../git/apply.js";
import type { WorktreeDiff } from "../git/diff.js";
import { repositoryOf } from "../git/repo.js";
import { WorktreeManager } from "../git/worktrees.js";
import { Bridge } from "../opencode/bridge.js";
import { executeTask, LeaseLostError, type TaskReporter } from "../runner/execute.js";
import type { Claim, Task, Worker } from "../services/tasks/tasks.types.js";
import type { WorktreeReport } from "../services/worktrees/worktrees.types.js";
import { performWorktreeAction, type WorktreeAction } from "../workspace/actions.js";
import { type OpenedWorkspace, openWorkspace, type WorkspaceRecorder, type WorktreeInfo } from "../workspace/workspace.js";
import { workerDirectory } from "./paths.js";
import { RetryableError, ServerApi, ServerRefusedError, withRetry } from "./server-api.js";

/** How long registration waits for the local OpenCode to say what it can run. */
const registerWaitMs = 15_000;
/** How long one claim waits on the server for work (the long poll; the server allows up to 30). */
const claimWaitSeconds = 20;

export interface WorkerOptions {
  server: string;
  name: string;
  codebases: { name: string; path: string }[];
  token?: string;
  concurrency: number;
  opencode: OpencodeSettings;
  opencodeEnv?: NodeJS.ProcessEnv;
  /** How long SIGTERM waits for running tasks before handing them back. */
  drainMs: number;
  pollMs?: number;
  /** How often a running task's transcript is sent to the server (default 10 s). */
  transcriptMs?: number;
  /** Where this worker makes its runs' worktrees (never inside a codebase), and how many it keeps prepared per repository. */
  worktreeDir: string;
  worktreePool: number;
  log?: (message: string) => void;
}

/** The server does not know this worker (it answered 404): register again. */
const isNotFound = (err: unknown) => err instanceof ServerRefusedError && err.status === 404;

export class CodetetherWorker {
  private readonly api: ServerApi;
  private readonly bridge: Bridge;
  private readonly worktrees: WorktreeManager;
  private readonly stopping = new AbortController();
  private readonly running = new Map<string, { release: AbortController; done: Promise<unknown> }>();
  private wake: (() => void) | null = null;
  private readonly log: (m: string) => void;
  /** The models as last sent to the server (JSON), to send them again only when they change. */
  private reportedModels: string | null = null;

  constructor(private readonly options: WorkerOptions) {
    this.api = new ServerApi(options.server, options.token);
    this.bridge = new Bridge(options.opencode, options.opencodeEnv);
    this.log = options.log ?? ((m) => console.log(`codetether-worker: ${m}`));
    this.worktrees = new WorktreeManager({
      root: options.worktreeDir,
      poolSize: options.worktreePool,
      warn: (message, err) => this.log(`${message}: ${(err as Error).message}`),
      ...this.bridge.worktreeHooks(),
    });
  }

  /** Registers, then claims and runs tasks until `stop()`. */
  async run(): Promise<void> {
    // OpenCode boots while we register; what it can run goes with the registration when it is up in time.
    this.bridge.warmUp();
    const models = await this.bridge.models.get(registerWaitMs);
    this.reportedModels = models ? JSON.stringify(models) : null;
    const registered = await withRetry(
      () => this.api.post<Worker>("/v1/opencode/worker/register", this.registration(models)),
      this.stopping.signal,
      (err) => this.log(`cannot register yet (${err.message}); retrying`),
    );
    this.log(`registered as ${registered!.name} with ${this.options.codebases.map((c) => `${c.name}:${c.path}`).join(", ") || "no codebases"}`);
    await this.recoverWorktrees();
    const beat = setInterval(() => void this.heartbeat(), 5000);
    try {
      await this.claimLoop();
    } finally {
      clearInterval(beat);
    }
  }

  private registration(models: RunnerModels | null) {
    const { name, codebases, concurrency } = this.options;
    return { name, codebases, concurrency, ...(models ? { models } : {}) };
  }

  /** Says we are alive, with what our OpenCode can run whenever that changed (a provider was added, say). */
  private async heartbeat(): Promise<void> {
    const models = this.stopping.signal.aborted ? null : await this.bridge.models.get(1000);
    const json = models ? JSON.stringify(models) : null;
    const changed = models !== null && json !== this.reportedModels;
    try {
      await this.api.post("/v1/opencode/worker/heartbeat", {
        name: this.options.name,
        draining: this.stopping.signal.aborted,
        ...(changed ? { models } : {}),
      });
      if (changed) {
        this.reportedModels = json;
        this.log(`models now: ${models.models.map((m) => m.id).join(", ") || "none"}`);
      }
    } catch (err) {
      if (err instanceof RetryableError) return; // the next beat tries again
      // The server forgot us (a new database?): register again.
      if (isNotFound(err)) {
        await this.api.post("/v1/opencode/worker/register", this.registration(models)).catch(() => {});
      }
    }
  }

  private async claimLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      if (this.running.size >= this.options.concurrency) {
        await this.sleep(this.options.pollMs ?? 1000);
        continue;
      }
      let claim: Claim | null = null;
      try {
        // A long poll: the server answers as soon as a task is runnable for us, or with nothing after the wait.
        claim = await this.api.post<Claim>(
          "/v1/opencode/worker/claim",
          { name: this.options.name, wait_seconds: claimWaitSeconds },
          { timeoutMs: (claimWaitSeconds + 15) * 1000, signal: this.stopping.signal },
        );
        failures = 0;
      } catch (err) {
        if (this.stopping.signal.aborted) break; // the wait was cut short because we are stopping
        failures++;
        if (failures === 1 || failures % 10 === 0) this.log(`claim failed (${(err as Error).message}); retrying`);
        if (isNotFound(err)) await this.heartbeat();
        await this.sleep(Math.min(5000, 250 * 2 ** Math.min(failures, 5)));
        continue;
      }
      if (!claim) {
        // The server waited already; a short pause keeps a server that cannot wait (an old one) from being hammered.
        await this.sleep(this.options.pollMs ?? 100);
        continue;
      }
      const release = new AbortController();
      const done = this.execute(claim, release.signal).finally(() => {
        this.running.delete(claim.task.id);
        this.wake?.();
      });
      this.running.set(claim.task.id, { release, done });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Where the claimed codebase (and its working directory) is here, by name, with
   * symlinks resolved: null if this worker does not have it, or if the directory
   * leads outside the worker's own copy.
   */
  private localPath(claim: Claim): Promise<string | null> {
    const mine = this.mine(claim);
    if (!mine) return Promise.resolve(null);
    return workerDirectory(mine.path, claim.codebase.path, claim.codebase.agent_config.working_directory);
  }

  private mine(claim: Claim): { name: string; path: string } | undefined {
    return this.options.codebases.find((c) => c.name === claim.codebase.name);
  }

  /** A crash (or kill) of an earlier worker process leaves nothing in its codebases' repositories that blocks a run. */
  private async recoverWorktrees(): Promise<void> {
    for (const c of this.options.codebases) {
      const repo = await repositoryOf(c.path);
      if (repo) await this.worktrees.recover(repo.root, c.name).catch((err) => this.log(`recovering worktrees of ${c.name} failed: ${(err as Error).message}`));
    }
  }

  private async execute(claim: Claim, release: AbortSignal): Promise<void> {
    const id = claim.task.id;
    const lease = { lease_token: claim.lease_token };
    const base = `/v1/opencode/worker/tasks/${encodeURIComponent(id)}`;
    // Reports are retried for as long as the lease may still be ours: past that the server has moved on.
    let leaseConfirmedAt = Date.now();
    const leaseLapsed = () => Date.now() - leaseConfirmedAt > claim.lease_seconds * 1000;
    const retry = <T>(call: () => Promise<T>) => withRetry(call, undefined, (err) => this.log(`task ${id}: ${err.message}; retrying`), leaseLapsed);
    const reporter: TaskReporter = {
      heartbeat: async () => {
        const answer = (await this.api.post<{ cancel_requested: boolean }>(`${base}/heartbeat`, lease))!;
        leaseConfirmedAt = Date.now();
        return answer;
      },
      events: async (events) => (await this.api.post<{ acked_through: number }>(`${base}/events`, { ...lease, events }))!.acked_through,
      complete: async (outcome) => {
        await retry(() => this.api.post<Task>(`${base}/complete`, { ...lease, ...outcome }));
      },
      release: async (reason) => {
        await retry(() => this.api.post<Task>(`${base}/release`, { ...lease, reason }));
      },
      refused: (err) => !(err instanceof RetryableError) && !(err instanceof LeaseLostError),
      messages: async (sessionId, messages) => {
        await retry(() => this.api.post(`${base}/messages`, { ...lease, session_id: sessionId, messages }));
      },
    };
    this.log(`task ${id} (attempt ${claim.attempt}): ${claim.task.title}`);
    const report = (body: Omit<WorktreeReport, "lease_token">) => retry(() => this.api.post(`${base}/worktree`, { ...lease, ...body }));
    try {
      if (claim.task.kind !== "agent") {
        await this.runAction(claim, reporter, report);
        return;
      }
      const directory = await this.localPath(claim);
      const mine = this.mine(claim);
      if (!directory || !mine) {
        await reporter.complete({
          status: "failed",
          error: `Codebase "${claim.codebase.name}" is not on worker ${this.options.name}, or its working directory leads outside it`,
        });
        return;
      }
      let workspace: OpenedWorkspace;
      try {
        workspace = await openWorkspace({
          manager: this.worktrees,
          codebaseDir: mine.path,
          workingDirectory: directory,
          setting: claim.codebase.agent_config.isolation as "worktree" | "none" | undefined,
          key: mine.name,
          title: claim.task.title,
          baseRef: claim.task.base_ref ?? undefined,
        });
      } catch (err) {
        await reporter.complete({ status: "failed", error: `Could not prepare the task's worktree on ${this.options.name}: ${(err as Error).message}` });
        return;
      }
      const outcome = await executeTask({
        claim,
        workspace,
        recorder: this.recorder(report),
        maxPatchBytes: claim.diff_max_bytes,
        runner: this.bridge.runner,
        reporter,
        heartbeatMs: Math.max(500, (claim.lease_seconds * 1000) / 3),
        release,
        log: this.log,
        readMessages: async (sessionId) => (await this.bridge.connection.ensure()).messages(workspace.directory, sessionId),
        transcriptMs: this.options.transcriptMs,
      });
      this.log(`task ${id}: ${outcome}`);
    } catch (err) {
      this.log(`task ${id} could not be reported: ${(err as Error).message}`);
    }
  }

  /** The server learns of this worker's worktrees and their diffs through the attempt's reports. */
  private recorder(report: (body: Omit<WorktreeReport, "lease_token">) => Promise<unknown>): WorkspaceRecorder {
    const about = (w: WorktreeInfo) => ({
      worktree_id: w.id,
      repo_path: w.repo,
      path: w.path,
      directory: w.directory,
      branch: w.branch,
      base_ref: w.baseRef,
      base_commit: w.baseCommit,
    });
    return {
      opened: async (w, sessionId) => {
        await report({ ...about(w), session_id: sessionId });
      },
      diffed: async (w, diff: WorktreeDiff) => {
        const { patch, head_commit, ...summary } = diff;
        await report({ ...about(w), head_commit, diff: { ...summary, patch_base64: patch.toString("base64") } });
      },
      ended: async (w, diskBytes) => {
        await report({ ...about(w), ended: true, ...(diskBytes === null ? {} : { disk_bytes: diskBytes }) });
      },
    };
  }

  /** Applies, discards or pushes one of this worker's worktrees, as the server asked, and reports how it went. */
  private async runAction(claim: Claim, reporter: TaskReporter, report: (body: Omit<WorktreeReport, "lease_token">) => Promise<unknown>): Promise<void> {
    const a = (claim.action ?? {}) as WorktreeAction & {
      worktree_id: string;
      repo_path: string;
      path: string;
      branch: string;
      base_commit: string;
      base_ref: string;
      directory: string;
      message: string;
    };
    const about = {
      worktree_id: a.worktree_id,
      repo_path: a.repo_path,
      path: a.path,
      directory: a.directory,
      branch: a.branch,
      base_ref: a.base_ref,
      base_commit: a.base_commit,
    };
    try {
      const ref = { repo: a.repo_path, path: a.path, branch: a.branch, baseCommit: a.base_commit };
      const done = await performWorktreeAction(this.worktrees, ref, a, a.message, claim.diff_max_bytes);
      if (done.op === "push") {
        await report({ ...about, pushed_to: done.remote });
        await reporter.complete({ status: "completed", result: `Pushed ${a.branch} to ${done.remote}` });
      } else if (done.op === "discard") {
        await report({ ...about, state: "discarded" });
        await reporter.complete({ status: "completed", result: `Discarded ${a.branch}` });
      } else {
        const { patch, head_commit, ...summary } = done.diff ?? ({} as Partial<WorktreeDiff>);
        await report({
          ...about,
          state: "applied",
          applied_mode: done.outcome.mode,
          applied_commit: done.outcome.commit,
          ...(done.diff ? { head_commit, diff: { ...(summary as Omit<WorktreeDiff, "patch" | "head_commit">), patch_base64: patch!.toString("base64") } } : {}),
        });
        await reporter.complete({
          status: "completed",
          result: JSON.stringify({ mode: done.outcome.mode, target_branch: done.outcome.branch, commit: done.outcome.commit, files: done.outcome.files }),
        });
      }
    } catch (err) {
      const files = err instanceof ApplyConflict ? err.files : [];
      this.log(`task ${claim.task.id}: ${a.op} of ${a.branch} failed: ${(err as Error).message}`);
      await reporter.complete({ status: "failed", error: (err as Error).message, ...(files.length ? { result: JSON.stringify({ conflicts: files }) } : {}) });
    }
  }

  /**
   * Stops claiming, lets running tasks finish for up to `drainMs`, then hands
   * back what is left so another runner takes it at once.
   */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) {
      for (const { release } of this.running.values()) release.abort();
      return;
    }
    this.stopping.abort();
    this.wake?.();
    void this.heartbeat();
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const timer = setTimeout(() => {
      for (const { release } of this.running.values()) release.abort();
    }, this.options.drainMs);
    await all();
    clearTimeout(timer);
    await this.worktrees.drainPool();
    await this.bridge.stop();
  }
}
