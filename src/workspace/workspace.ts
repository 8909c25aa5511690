/**
 * Where one run works, and what it changed. A run on a git codebase gets a
 * worktree of its own on a branch named after it (isolation "worktree"); the
 * diff against its base is taken while it runs (after steps that used tools) and
 * at the end of each turn, after the turn is committed, and handed to `store`
 * before a `diff` event says so. A run elsewhere works in the directory itself
 * (isolation "none"). Triggers, the server's own runner and workers all use it.
 */
import { randomBytes } from "node:crypto";
import { realpath } from "node:fs/promises";
import path from "node:path";
import { invalid } from "../contracts/errors.js";
import type { NewEvent } from "../contracts/events.js";
import { commitAll, type WorktreeDiff, worktreeDiff } from "../git/diff.js";
import { isPlausibleRef, type RepositoryInfo, repositoryOf, resolveCommit } from "../git/repo.js";
import { diskBytes, newWorktreeId, type WorktreeManager, type WorktreeRef } from "../git/worktrees.js";

export type Isolation = "worktree" | "none";

/** A run's worktree, as it is recorded (server side: the `worktrees` table). */
export interface WorktreeInfo extends WorktreeRef {
  id: string;
  /** What the caller asked to start from (`HEAD` by default). */
  baseRef: string;
  /** Where the agent works: the worktree, or the codebase's subdirectory of it. */
  directory: string;
}

export type OpenedWorkspace =
  | {
      isolation: "none";
      directory: string;
      reason: string;
      /**
       * Whether the directory is in a git repository with a commit (what a worktree needs; the server notes it on
       * the codebase). Asked only by who wants it: a run without isolation by choice starts before git is read.
       */
      versioned(): Promise<boolean>;
    }
  | {
      isolation: "worktree";
      directory: string;
      worktree: WorktreeInfo;
      recreated: boolean;
      /**
       * Resolves once the run's branch is in place: a pooled worktree's directory is usable at
       * once (the prompt goes out meanwhile), its branch is made alongside; the tracker waits for it.
       */
      ready: Promise<void>;
    };

/** `codetether/<8 hex>-<slug of the title>`: readable in `git branch`, unique by its id. */
function runBranchName(shortId: string, title: string): string {
  const slug = title
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  return `codetether/${shortId}${slug ? `-${slug}` : ""}`;
}

/** The isolation a codebase's runs get: its `agent_config.isolation`, else worktrees for git repositories. */
function isolationFor(setting: Isolation | undefined, repo: RepositoryInfo | null): { isolation: Isolation; reason: string } {
  if (setting === "none") return { isolation: "none", reason: "agent_config.isolation is none" };
  if (!repo) return { isolation: "none", reason: "the codebase is not a git repository" };
  if (!repo.head) return { isolation: "none", reason: "the codebase's git repository has no commits yet" };
  return { isolation: "worktree", reason: setting === "worktree" ? "agent_config.isolation is worktree" : "the codebase is a git repository" };
}

/**
 * Checks a caller's `base_ref` against the repository (422 when it names no
 * commit) and answers the commit, or the repository's HEAD when none is given.
 */
async function resolveBase(repo: RepositoryInfo, baseRef: string | undefined): Promise<string> {
  if (baseRef === undefined) return repo.head!;
  if (!isPlausibleRef(baseRef)) throw invalid(`base_ref "${baseRef}" is not a git ref`);
  const commit = await resolveCommit(repo.root, baseRef);
  if (!commit) throw invalid(`base_ref "${baseRef}" names no commit in the codebase's repository (${repo.root})`);
  return commit;
}

export interface OpenRequest {
  manager: WorktreeManager;
  /** The codebase's directory on this machine, and where in it the agent works (its working_directory, or itself). */
  codebaseDir: string;
  workingDirectory: string;
  /** The codebase's `agent_config.isolation`. */
  setting: Isolation | undefined;
  /** Names the codebase's folder under the manager's root (its id on the server, its name on a worker). */
  key: string;
  title: string;
  baseRef?: string;
  /** A resumed run's worktree: it continues there. */
  resume?: WorktreeInfo;
  /**
   * Opened ahead of knowing whether the run may start: a worktree only when one is ready in the pool, else null
   * (nothing is made), so a run refused meanwhile never waits for a `git worktree add` it would throw away.
   */
  onlyIfPooled?: boolean;
}

/** Decides and prepares where a run works (see the module comment); null only for `onlyIfPooled`, see there. */
export async function openWorkspace(request: OpenRequest & { onlyIfPooled: true }): Promise<OpenedWorkspace | null>;
export async function openWorkspace(request: OpenRequest): Promise<OpenedWorkspace>;
export async function openWorkspace(request: OpenRequest): Promise<OpenedWorkspace | null> {
  if (request.resume) {
    const { recreated, baseCommit } = await request.manager.reopen(
      request.resume,
      (await repositoryOf(request.resume.repo))?.head ?? request.resume.baseCommit,
    );
    const worktree = { ...request.resume, baseCommit };
    return { isolation: "worktree", directory: worktree.directory, worktree, recreated, ready: Promise.resolve() };
  }
  // With isolation turned off the run needs nothing of the repository, so it is not read first.
  const repo = request.setting === "none" ? null : await repositoryOf(request.codebaseDir);
  const decided = isolationFor(request.setting, repo);
  if (decided.isolation === "none" || !repo) {
    if (request.baseRef !== undefined) throw invalid(`base_ref needs worktree isolation, and this run has none: ${decided.reason}`);
    const versioned = async () => Boolean((request.setting === "none" ? await repositoryOf(request.codebaseDir) : repo)?.head);
    return { isolation: "none", directory: request.workingDirectory, reason: decided.reason, versioned };
  }
  if (isInsideDir(repo.root, request.manager.root)) {
    throw invalid(
      `The worktree directory (${request.manager.root}) is inside the codebase's repository (${repo.root}): set CODETETHER_WORKTREE_DIR elsewhere, or agent_config.isolation to "none"`,
    );
  }
  if (request.onlyIfPooled && !request.manager.hasPooled(repo.root)) return null;
  const baseCommit = await resolveBase(repo, request.baseRef);
  const branch = runBranchName(randomBytes(4).toString("hex"), request.title);
  const { ready, ...ref } = await request.manager.create({ repo: repo.root, key: request.key, id: newWorktreeId(), branch, baseCommit });
  // Never an unhandled rejection: whoever starts the run awaits it and says what failed.
  ready.catch(() => {});
  // The agent works where the codebase (and its working_directory) sit inside the repository.
  const inRepo = path.relative(repo.root, await realOrSelf(request.workingDirectory));
  const directory = inRepo && !inRepo.startsWith("..") ? path.join(ref.path, inRepo) : path.join(ref.path, repo.subdir);
  return { isolation: "worktree", directory, worktree: { ...ref, baseRef: request.baseRef ?? "HEAD", directory }, recreated: false, ready };
}

function isInsideDir(base: string, target: string): boolean {
  const rel = path.relative(base, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

async function realOrSelf(p: string): Promise<string> {
  return realpath(p).catch(() => p);
}

/**
 * Where a run's worktree is recorded: the database on the server, the server
 * (over the worker protocol) on a worker. Each call may be retried by its caller.
 */
export interface WorkspaceRecorder {
  /** The run's session exists: record the worktree it works in. */
  opened(worktree: WorktreeInfo, sessionId: string): Promise<void>;
  /** A diff was taken; `final` after the turn's commit. */
  diffed(worktree: WorktreeInfo, diff: WorktreeDiff, final: boolean): Promise<void>;
  /** The run ended; what the worktree takes on disk now. */
  ended(worktree: WorktreeInfo, diskBytes: number | null): Promise<void>;
}

/** A worktree made for a run that never started (OpenCode refused it, say): nothing of it is kept. */
export async function abandonWorkspace(manager: WorktreeManager, opened: OpenedWorkspace): Promise<void> {
  if (opened.isolation !== "worktree" || opened.recreated) return;
  await opened.ready.catch(() => {});
  await manager.remove(opened.worktree, "force").catch(() => {});
}

export interface TrackerOptions {
  worktree: WorktreeInfo;
  /** The worktree's branch is in place (see `OpenedWorkspace.ready`): no diff or commit before it. */
  ready?: Promise<void>;
  sessionId: string;
  /** Bytes of patch kept (CODETETHER_DIFF_MAX_BYTES). */
  maxPatchBytes: number;
  recorder: WorkspaceRecorder;
  /** Adds an event to the run's stream, in order with the agent's own. */
  push(event: NewEvent): void;
  /** Waits until the events pushed so far are stored, so a `diff` event never overtakes them. */
  flushed(): Promise<void>;
  log?: (message: string, err?: unknown) => void;
  /** How long after a step that used tools the diff is taken (default 300 ms). */
  debounceMs?: number;
}

/** Follows one run in its worktree: diffs while it runs, commits and diffs when a turn ends. */
export class WorkspaceTracker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private toolsSinceDiff = false;
  private ended = false;
  /** Paths the run's stream has named already (relative to the run's directory). */
  private readonly named = new Set<string>();

  constructor(private readonly options: TrackerOptions) {}

  /** Sees each event of the run before it goes out. */
  observe(event: NewEvent): void {
    if (event.type === "file_change") this.named.add(event.data.path);
    if (event.type === "tool_use" && event.data.status === "completed") this.toolsSinceDiff = true;
    // A model step ended after using tools: what it did to the files is worth a look.
    if (event.type === "usage" && this.toolsSinceDiff && !this.ended) this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.diffNow(false);
    }, this.options.debounceMs ?? 300);
    this.timer.unref();
  }

  private diffNow(final: boolean): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    this.toolsSinceDiff = false;
    this.running = this.take(final)
      .catch((err) => this.options.log?.("taking the run's diff failed", err))
      .finally(() => {
        this.running = null;
        if (this.again && !this.ended) {
          this.again = false;
          void this.diffNow(false);
        }
      });
    return this.running;
  }

  private async take(final: boolean): Promise<void> {
    const { worktree } = this.options;
    await this.options.ready;
    if (final) await commitAll(worktree.path, `CodeTether: ${path.basename(worktree.branch)} (session ${this.options.sessionId})`);
    const diff = await worktreeDiff(worktree.path, worktree.baseCommit, this.options.maxPatchBytes);
    this.nameUnnamedFiles(diff);
    await this.options.flushed();
    await this.options.recorder.diffed(worktree, diff, final);
    this.options.push({
      type: "diff",
      data: {
        session_id: this.options.sessionId,
        worktree_id: worktree.id,
        branch: worktree.branch,
        base_commit: worktree.baseCommit,
        head_commit: diff.head_commit,
        files: diff.files.length,
        additions: diff.additions,
        deletions: diff.deletions,
        truncated: diff.truncated,
        final,
      },
    });
  }

  /** Files a tool changed without saying so (a `bash` command, say) get their `file_change` from the diff. */
  private nameUnnamedFiles(diff: WorktreeDiff): void {
    const { worktree } = this.options;
    for (const file of diff.files) {
      const shown = path.relative(worktree.directory, path.join(worktree.path, file.path));
      if (this.named.has(shown) || this.named.has(path.join(worktree.path, file.path))) continue;
      this.named.add(shown);
      const action = file.status === "added" ? "created" : file.status === "deleted" ? "deleted" : "edited";
      this.options.push({ type: "file_change", data: { session_id: this.options.sessionId, action, path: shown } });
    }
  }

  /** The turn ended: commits it and records the final diff (awaited before the run's `complete`). */
  async endTurn(): Promise<void> {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    this.running = null;
    this.again = false;
    await this.take(true).catch((err) => this.options.log?.("recording the run's final diff failed", err));
    const bytes = await diskBytes(this.options.worktree.path);
    await this.options.recorder.ended(this.options.worktree, bytes).catch((err) => this.options.log?.("recording the run's end failed", err));
  }
}
