/** What CodeTether asks of a user's repository before it isolates a run in it: read-only questions. */
import { realpath } from "node:fs/promises";
import path from "node:path";
import { GitError, git, gitText, nulFields } from "./git.js";

export interface RepositoryInfo {
  /** The repository's top-level directory (symlinks resolved). */
  root: string;
  /** Where `dir` is inside it, relative ("" for the top level). */
  subdir: string;
  /** The commit HEAD names, or null for a repository without commits. */
  head: string | null;
}

/** The repository `dir` is in, or null when it is not inside a git work tree (or git is missing). */
export async function repositoryOf(dir: string): Promise<RepositoryInfo | null> {
  let top: string;
  try {
    top = await gitText(["rev-parse", "--show-toplevel"], { cwd: dir, timeoutMs: 10_000 });
  } catch {
    return null;
  }
  if (!top) return null; // a bare repository or inside .git
  const root = await realpath(top);
  const real = await realpath(dir);
  const head = await resolveCommit(root, "HEAD");
  return { root, subdir: path.relative(root, real), head };
}

/** Refs a caller may name: no option-looking, empty or control-character names (git checks the rest). */
export function isPlausibleRef(ref: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  return ref.length > 0 && ref.length <= 250 && !ref.startsWith("-") && !/[\x00-\x20\x7f~^:?*[\\]/.test(ref.replace(/\^\{commit\}$/, ""));
}

/** The commit `ref` names in `repo` (a branch, tag, `HEAD`, a sha), or null when it names none. */
export async function resolveCommit(repo: string, ref: string): Promise<string | null> {
  if (!isPlausibleRef(ref)) return null;
  const out = await git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`], { cwd: repo, okCodes: [1, 128], timeoutMs: 10_000 });
  const sha = out.stdout.toString("utf8").trim();
  return out.exitCode === 0 && /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
}

/** The branch HEAD is on (`main`), or null when HEAD is detached. */
export async function currentBranch(repo: string): Promise<string | null> {
  const out = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd: repo, okCodes: [1, 128] });
  return out.exitCode === 0 ? out.stdout.toString("utf8").trim() : null;
}

export async function branchExists(repo: string, branch: string): Promise<boolean> {
  const out = await git(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`], { cwd: repo, okCodes: [1] });
  return out.exitCode === 0;
}

/** The repository's remotes, by name. */
export async function remotes(repo: string): Promise<string[]> {
  const out = await gitText(["remote"], { cwd: repo });
  return out.split("\n").filter(Boolean);
}

/**
 * Paths with changes the user has not committed (staged, unstaged or untracked),
 * relative to the repository root; renames count under both names.
 */
export async function uncommittedPaths(repo: string): Promise<{ all: Set<string>; staged: Set<string> }> {
  const out = await git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"], { cwd: repo });
  const all = new Set<string>();
  const staged = new Set<string>();
  for (const entry of nulFields(out.stdout)) {
    const x = entry[0];
    const file = entry.slice(3);
    all.add(file);
    if (x !== " " && x !== "?") staged.add(file);
  }
  return { all, staged };
}

/** True when `err` is git saying something the caller can act on, rather than git being absent. */
export function isGitFailure(err: unknown): err is GitError {
  return err instanceof GitError && err.exitCode !== null;
}
