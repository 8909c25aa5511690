/**
 * The worktrees CodeTether makes for runs, under a directory it owns (never the
 * user's tree): one per run on a branch of its own, created from a warm pool when
 * one is ready, removed and pruned safely, and recovered after a crash so nothing
 * a killed process left behind blocks the next run.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { git, gitText, RepositoryLocks } from "./git.js";
import { launch } from "./launcher.js";
import { branchExists } from "./repo.js";

export interface WorktreeRef {
  /** The repository the worktree belongs to (the user's, or a worker's copy). */
  repo: string;
  path: string;
  branch: string;
  baseCommit: string;
}

export interface WorktreeManagerOptions {
  /** The directory CodeTether owns: `<root>/<key>/<worktree id>`. */
  root: string;
  /** Prepared worktrees to keep ready per repository (0: none). */
  poolSize: number;
  /** For things that went wrong in the background (a pool refill, say). */
  warn?: (message: string, err: unknown) => void;
  /** A worktree was prepared for the pool (the bridge warms OpenCode's instance for its directory). */
  prepared?: (dir: string) => void;
  /** A worktree was removed (the bridge lets OpenCode forget its directories). */
  removed?: (dir: string) => void;
}

/** A prepared worktree: its directory (already named as the run's) and the commit it was checked out at. */
interface Pooled {
  id: string;
  path: string;
  commit: string;
}

/** A directory name from any key: letters, digits, `.`, `_`, `-`. */
const safeName = (key: string) => key.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 120) || "_";
/** A pooled worktree has a marker file beside it naming the process that prepared it (`<dir>.pool`). */
const poolMarker = (dir: string) => `${dir}.pool`;
/** How long after a worktree is taken its replacement is prepared: not while the run it went to is starting. */
const refillDelayMs = 1500;

/** A new worktree id: `wt_` and 16 hex digits. */
export const newWorktreeId = () => `wt_${randomBytes(8).toString("hex")}`;

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class WorktreeManager {
  readonly root: string;
  /** Git changes to one repository happen one at a time in this process. */
  readonly locks = new RepositoryLocks();
  /** Ready, detached worktrees per repository (their paths), and refills under way. */
  private readonly pools = new Map<string, Pooled[]>();
  private readonly refilling = new Map<string, Promise<void>>();
  /** Refills waiting out their delay, so a drain can call them off. */
  private readonly delayed = new Set<() => void>();
  /** Set by `drainPool`: a process shutting down makes no more pooled worktrees (one made then would outlive it). */
  private drained = false;

  constructor(private readonly options: WorktreeManagerOptions) {
    this.root = path.resolve(options.root);
  }

  /** Where the worktree `id` of the codebase `key` lives. */
  pathFor(key: string, id: string): string {
    return path.join(this.root, safeName(key), safeName(id));
  }

  /**
   * A new worktree for a run at `baseCommit` on a new branch: a pooled one when
   * ready (its directory is named already; at the same commit only the branch is
   * made, with no checkout at all), else `git worktree add`. The branch must not
   * exist yet. Answers the worktree, whose id is the pooled one's or `id`.
   */
  async create(input: {
    repo: string;
    key: string;
    id: string;
    branch: string;
    baseCommit: string;
  }): Promise<WorktreeRef & { id: string; ready: Promise<void> }> {
    const pooled = this.pools.get(input.repo)?.shift();
    if (pooled) {
      const ref = { repo: input.repo, path: pooled.path, branch: input.branch, baseCommit: input.baseCommit, id: pooled.id };
      // Its directory is there already: the caller may start on it (OpenCode's session) while the branch is made.
      const ready = this.locks
        .run(input.repo, async () => {
          if (pooled.commit === input.baseCommit) {
            // Plumbing: the branch, and HEAD on it; index and files are already this commit's.
            await git(["update-ref", `refs/heads/${input.branch}`, input.baseCommit, ""], { cwd: pooled.path });
            await git(["symbolic-ref", "HEAD", `refs/heads/${input.branch}`], { cwd: pooled.path });
          } else {
            // From the pooled commit to the base: only the files that differ are written.
            await git(["checkout", "--quiet", "-b", input.branch, input.baseCommit], { cwd: pooled.path });
          }
          await rm(poolMarker(pooled.path), { force: true });
        })
        .finally(() => this.refillSoon(input.repo, input.key));
      // Awaited here only when the base is another commit: a checkout may fail (and then a fresh worktree is made).
      if (pooled.commit === input.baseCommit) return { ...ref, ready };
      try {
        await ready;
        return { ...ref, ready };
      } catch (err) {
        this.options.warn?.("a pooled worktree could not be used; creating a fresh one", err);
        await this.removeDirectory(input.repo, pooled.path);
      }
    }
    const target = this.pathFor(input.key, input.id);
    await mkdir(path.dirname(target), { recursive: true });
    await this.locks.run(input.repo, () =>
      git(["worktree", "add", "--quiet", "--no-checkout", "-b", input.branch, target, input.baseCommit], { cwd: input.repo }),
    );
    // The checkout itself runs outside the lock: a big tree does not hold up other runs' worktrees.
    await git(["reset", "--hard", "--quiet"], { cwd: target, timeoutMs: 30 * 60_000 });
    this.refillSoon(input.repo, input.key);
    return { repo: input.repo, path: target, branch: input.branch, baseCommit: input.baseCommit, id: input.id, ready: Promise.resolve() };
  }

  /**
   * Makes sure a resumed run's worktree is there: as it was, or added again at its
   * path (on its branch if that still exists, else on a new branch of that name from
   * `fallbackBase`). Answers the base its diff is now measured from.
   */
  async reopen(ref: WorktreeRef, fallbackBase: string): Promise<{ recreated: boolean; baseCommit: string }> {
    if (await exists(path.join(ref.path, ".git"))) {
      await this.clearStaleLocks(ref.path);
      return { recreated: false, baseCommit: ref.baseCommit };
    }
    await mkdir(path.dirname(ref.path), { recursive: true });
    return this.locks.run(ref.repo, async () => {
      await git(["worktree", "prune"], { cwd: ref.repo });
      if (await branchExists(ref.repo, ref.branch)) {
        await git(["worktree", "add", "--quiet", ref.path, ref.branch], { cwd: ref.repo, timeoutMs: 30 * 60_000 });
        return { recreated: true, baseCommit: ref.baseCommit };
      }
      await git(["worktree", "add", "--quiet", "-b", ref.branch, ref.path, fallbackBase], { cwd: ref.repo, timeoutMs: 30 * 60_000 });
      return { recreated: true, baseCommit: fallbackBase };
    });
  }

  /**
   * Removes a worktree (its files, untracked ones included, and git's record of it).
   * `deleteBranch` also deletes its branch: `"merged"` only if it is merged
   * (`git branch -d`), `"force"` whatever it holds (a discard).
   */
  async remove(ref: WorktreeRef, deleteBranch?: "merged" | "force"): Promise<void> {
    await this.removeDirectory(ref.repo, ref.path);
    if (!deleteBranch) return;
    await this.locks.run(ref.repo, async () => {
      if (!(await branchExists(ref.repo, ref.branch))) return;
      await git(["branch", deleteBranch === "force" ? "-D" : "-d", "--", ref.branch], { cwd: ref.repo, okCodes: deleteBranch === "merged" ? [1] : [] });
    });
  }

  private async removeDirectory(repo: string, dir: string): Promise<void> {
    await this.locks.run(repo, async () => {
      const removed = await git(["worktree", "remove", "--force", "--force", dir], { cwd: repo, okCodes: [128] });
      // Not (or no longer) a registered worktree: delete what is left, only ever inside our own directory.
      if (removed.exitCode !== 0 && isInside(this.root, dir)) await rm(dir, { recursive: true, force: true });
      await rm(poolMarker(dir), { force: true });
      await git(["worktree", "prune"], { cwd: repo });
    });
    this.options.removed?.(dir);
  }

  /**
   * After a crash: forgets worktrees whose directories are gone, removes those an
   * interrupted `worktree add` left locked and pooled ones of processes no longer
   * running, and lock files a killed git left in our worktrees.
   */
  async recover(repo: string, key: string): Promise<void> {
    await this.locks.run(repo, async () => {
      const listed = await gitText(["worktree", "list", "--porcelain"], { cwd: repo });
      for (const entry of listed.split("\n\n")) {
        const dir = /^worktree (.+)$/m.exec(entry)?.[1];
        if (!dir || !isInside(this.root, dir)) continue;
        // Pooled by a process still running: that process's. Pooled by a dead one, or locked (an interrupted add): left by a kill.
        const owner = Number(await readFile(poolMarker(dir), "utf8").catch(() => "NaN"));
        const abandonedPool = Number.isInteger(owner) && (owner === process.pid ? !this.isPooled(repo, dir) : !processAlive(owner));
        if (!abandonedPool && !/^locked/m.test(entry)) continue;
        await git(["worktree", "remove", "--force", "--force", dir], { cwd: repo, okCodes: [128] });
        await rm(dir, { recursive: true, force: true });
        await rm(poolMarker(dir), { force: true });
      }
      await git(["worktree", "prune"], { cwd: repo });
    });
    const dir = path.join(this.root, safeName(key));
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.endsWith(".pool")) {
        // A marker whose worktree is gone (killed before `worktree add` finished).
        if (!(await exists(path.join(dir, name.slice(0, -5))))) await rm(path.join(dir, name), { force: true });
        continue;
      }
      await this.clearStaleLocks(path.join(dir, name));
    }
  }

  private isPooled(repo: string, dir: string): boolean {
    return this.pools.get(repo)?.some((p) => p.path === dir) ?? false;
  }

  /** Lock files git leaves in a worktree's own git directory when it is killed mid-command. */
  private async clearStaleLocks(worktree: string): Promise<void> {
    const pointer = await readFile(path.join(worktree, ".git"), "utf8").catch(() => null);
    const gitdir = pointer && /^gitdir: (.+)$/m.exec(pointer)?.[1]?.trim();
    if (!gitdir) return;
    await rm(path.join(path.resolve(worktree, gitdir), "index.lock"), { force: true });
  }

  /** Keeps `poolSize` detached worktrees of the repository ready, in the background. */
  refill(repo: string, key: string): void {
    if (this.drained || this.options.poolSize <= 0 || this.refilling.has(repo)) return;
    const work = (async () => {
      const pool = this.pools.get(repo) ?? [];
      this.pools.set(repo, pool);
      while (pool.length < this.options.poolSize) {
        const id = newWorktreeId();
        const dir = this.pathFor(key, id);
        await mkdir(path.dirname(dir), { recursive: true });
        const commit = await gitText(["rev-parse", "HEAD"], { cwd: repo });
        await writeFile(poolMarker(dir), String(process.pid));
        await this.locks.run(repo, () => git(["worktree", "add", "--quiet", "--detach", "--no-checkout", dir, commit], { cwd: repo }));
        await git(["reset", "--hard", "--quiet"], { cwd: dir, timeoutMs: 30 * 60_000 });
        pool.push({ id, path: dir, commit });
        this.options.prepared?.(dir);
      }
    })()
      .catch((err) => this.options.warn?.("preparing a pooled worktree failed", err))
      .finally(() => this.refilling.delete(repo));
    this.refilling.set(repo, work);
  }

  /** `refill`, a little later: the run that took a pooled worktree starts without a checkout competing with it. */
  private refillSoon(repo: string, key: string): void {
    if (this.drained || this.options.poolSize <= 0) return;
    const pending = new Promise<void>((resolve) => {
      // Either way it ends, it leaves the map; the refill itself (if it starts) takes its place there.
      const settle = (refillNow: boolean) => {
        clearTimeout(timer);
        this.delayed.delete(cancel);
        if (this.refilling.get(repo) === pending) this.refilling.delete(repo);
        if (refillNow) this.refill(repo, key);
        resolve(this.refilling.get(repo));
      };
      const cancel = () => settle(false);
      const timer = setTimeout(() => settle(true), refillDelayMs);
      this.delayed.add(cancel);
    });
    if (!this.refilling.has(repo)) this.refilling.set(repo, pending);
  }

  /** Resolves once pool refills under way have finished (tests and benchmarks wait for a warm pool). */
  async poolReady(): Promise<void> {
    while (this.refilling.size > 0) await Promise.allSettled([...this.refilling.values()]);
  }

  /** Whether a worktree of `repo` is ready in the pool (so `create` would make none). */
  hasPooled(repo: string): boolean {
    return (this.pools.get(repo)?.length ?? 0) > 0;
  }

  /** Pooled worktrees ready now, over all repositories. */
  pooled(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.length;
    return n;
  }

  /** Removes the pooled worktrees (shutdown): they are cheap to make again and must not outlive their process. */
  async drainPool(): Promise<void> {
    this.drained = true;
    for (const cancel of [...this.delayed]) cancel();
    while (this.refilling.size > 0) await Promise.allSettled([...this.refilling.values()]);
    const all = [...this.pools.entries()];
    this.pools.clear();
    for (const [repo, pooled] of all) for (const p of pooled) await this.removeDirectory(repo, p.path).catch(() => {});
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Bytes a directory takes on disk (`du`), or null when it cannot be measured. */
export async function diskBytes(dir: string): Promise<number | null> {
  const du = await launch({ file: "du", args: ["-sk", dir], env: process.env, timeoutMs: 60_000 }).catch(() => null);
  const kib = Number(du?.stdout.toString("utf8").split(/\s/)[0]);
  return du?.exitCode === 0 && Number.isFinite(kib) ? kib * 1024 : null;
}
