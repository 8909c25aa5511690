/**
 * Bringing a run's branch into the user's repository, as the user asked: a
 * fast-forward, a merge commit, or its changes left uncommitted in their tree.
 * Every way checks first and changes nothing when it would conflict, with the
 * content of the branch or with what the user has not committed.
 */
import { GitError, git, gitText, nulFields, redactUrls } from "./git.js";
import { currentBranch, remotes, uncommittedPaths } from "./repo.js";

export type ApplyMode = "fast-forward" | "merge" | "uncommitted";

export interface ApplyOutcome {
  mode: ApplyMode;
  /** The codebase's branch it went into (null for uncommitted changes on a detached HEAD). */
  branch: string | null;
  /** The commit the codebase's branch is at afterwards (unchanged for `uncommitted`). */
  commit: string;
  files: string[];
}

/** Applying would conflict: `files` names where; nothing was changed. */
export class ApplyConflict extends Error {
  constructor(
    message: string,
    readonly files: string[],
  ) {
    super(message);
    this.name = "ApplyConflict";
  }
}

const list = (files: string[]) => (files.length > 20 ? `${files.slice(0, 20).join(", ")} and ${files.length - 20} more` : files.join(", "));

async function changedPaths(repo: string, from: string, to: string): Promise<string[]> {
  return nulFields((await git(["diff", "--name-only", "-z", "--no-renames", from, to, "--"], { cwd: repo })).stdout);
}

/** Refuses when the user has uncommitted changes in files the apply would write. */
async function refuseOverlap(repo: string, touched: string[], what: string): Promise<void> {
  const dirty = await uncommittedPaths(repo);
  const overlap = touched.filter((f) => dirty.all.has(f));
  if (overlap.length > 0) {
    throw new ApplyConflict(`${what} would overwrite uncommitted changes in: ${list(overlap)}. Commit or stash them first; nothing was changed`, overlap);
  }
}

/** Whether the identity for a merge commit is configured; if not, CodeTether signs it. */
async function identityArgs(repo: string): Promise<string[]> {
  const email = await git(["config", "--get", "user.email"], { cwd: repo, okCodes: [1] });
  return email.exitCode === 0 ? [] : ["-c", "user.name=CodeTether", "-c", "user.email=codetether@localhost"];
}

/**
 * Applies `branch` (a run's, started at `baseCommit`) to the repository's current
 * branch. Throws ApplyConflict, with the files, when it cannot be done cleanly.
 */
export async function applyBranch(repo: string, input: { branch: string; baseCommit: string; mode: ApplyMode; message: string }): Promise<ApplyOutcome> {
  const tip = await gitText(["rev-parse", "--verify", `refs/heads/${input.branch}^{commit}`], { cwd: repo }).catch(() => null);
  if (!tip) throw new ApplyConflict(`The run's branch ${input.branch} no longer exists`, []);
  const target = await currentBranch(repo);
  const head = await gitText(["rev-parse", "HEAD"], { cwd: repo });

  if (input.mode === "uncommitted") {
    const patch = (await git(["diff", "--binary", "--full-index", "--no-color", "--no-ext-diff", input.baseCommit, tip, "--"], { cwd: repo })).stdout;
    const files = await changedPaths(repo, input.baseCommit, tip);
    if (patch.length === 0) return { mode: input.mode, branch: target, commit: head, files: [] };
    // `git apply` is all or nothing, and --check tries it without writing.
    const check = await git(["apply", "--check", "--whitespace=nowarn", "-"], { cwd: repo, input: patch, okCodes: [1] }).catch((err: GitError) => err);
    if (check instanceof GitError || check.exitCode !== 0) {
      const stderr = check instanceof GitError ? check.stderr : "";
      const failed = [
        ...new Set([...stderr.matchAll(/(?:patch failed: |error: )([^:\n]+?)(?::\d+|: (?:already exists|does not exist|does not match))/g)].map((m) => m[1]!)),
      ];
      const named = failed.length > 0 ? failed : files;
      throw new ApplyConflict(
        `The run's changes do not apply to the codebase's working tree as it is now (conflicts in: ${list(named)}); nothing was changed`,
        named,
      );
    }
    await git(["apply", "--whitespace=nowarn", "-"], { cwd: repo, input: patch });
    return { mode: input.mode, branch: target, commit: head, files };
  }

  if (!target)
    throw new ApplyConflict("The codebase's repository has a detached HEAD: check out the branch to merge into, or apply as uncommitted changes", []);
  if (input.mode === "fast-forward") {
    const ancestor = await git(["merge-base", "--is-ancestor", head, tip], { cwd: repo, okCodes: [1] });
    if (ancestor.exitCode !== 0) {
      throw new ApplyConflict(`${target} has moved on since the run started, so it cannot be fast-forwarded: apply with mode "merge" instead`, []);
    }
    const files = await changedPaths(repo, head, tip);
    await refuseOverlap(repo, files, "Fast-forwarding");
    await git(["merge", "--ff-only", "--quiet", tip], { cwd: repo });
    return { mode: input.mode, branch: target, commit: tip, files };
  }

  // A merge commit: tried in memory first (merge-tree writes no file and moves no ref).
  const trial = await git(["merge-tree", "--write-tree", "--name-only", "--no-messages", head, tip], { cwd: repo, okCodes: [1] });
  const [tree, ...conflicted] = nulFieldsOrLines(trial.stdout);
  if (trial.exitCode === 1) {
    const files = [...new Set(conflicted.filter(Boolean))];
    throw new ApplyConflict(`Merging ${input.branch} into ${target} conflicts in: ${list(files)}; nothing was changed`, files);
  }
  const files = await changedPaths(repo, head, tree!);
  const dirty = await uncommittedPaths(repo);
  if (dirty.staged.size > 0) {
    const staged = [...dirty.staged];
    throw new ApplyConflict(`The codebase has staged changes (${list(staged)}): commit or unstage them before a merge; nothing was changed`, staged);
  }
  await refuseOverlap(repo, files, "Merging");
  await git([...(await identityArgs(repo)), "merge", "--no-ff", "--no-edit", "--quiet", "-m", input.message, tip], { cwd: repo });
  return { mode: input.mode, branch: target, commit: await gitText(["rev-parse", "HEAD"], { cwd: repo }), files };
}

/** merge-tree prints the tree, then one conflicted path per line. */
function nulFieldsOrLines(out: Buffer): string[] {
  return out.toString("utf8").split("\n").filter(Boolean);
}

/** No remote to push to: the codebase's repository has none (or not the one named). */
export class NoRemote extends Error {
  override name = "NoRemote";
}

/**
 * Pushes the run's branch with the machine's own git credentials; whatever git
 * says comes back with any credentials in URLs masked.
 */
export async function pushBranch(repo: string, branch: string, remote?: string): Promise<{ remote: string; branch: string }> {
  const all = await remotes(repo);
  const chosen = remote ?? (all.includes("origin") ? "origin" : all[0]);
  if (!chosen || !all.includes(chosen)) {
    throw new NoRemote(
      remote
        ? `The codebase's repository has no remote named "${remote}" (it has: ${all.join(", ") || "none"})`
        : "The codebase's repository has no git remote to push to",
    );
  }
  try {
    await git(["push", "--porcelain", "--", chosen, `refs/heads/${branch}:refs/heads/${branch}`], { cwd: repo, timeoutMs: 120_000 });
  } catch (err) {
    throw new Error(redactUrls(err instanceof GitError ? `git push to ${chosen} failed: ${err.stderr.trim().slice(0, 500)}` : (err as Error).message));
  }
  return { remote: chosen, branch };
}
