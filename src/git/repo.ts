/** What CodeTether asks of a user's repository before it isolates a run in it: read-only questions. */
import { readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { git, gitText, nulFields } from "./git.js";

export interface RepositoryInfo {
  /** The repository's top-level directory (symlinks resolved). */
  root: string;
  /** Where `dir` is inside it, relative ("" for the top level). */
  subdir: string;
  /** The commit HEAD names, or null for a repository without commits. */
  head: string | null;
}

/** Repositories found before, by directory: their root and where git keeps them (a trigger asks every time). */
const known = new Map<string, { root: string; subdir: string; gitDir: string }>();

/**
 * The repository `dir` is in, or null when it is not inside a git work tree (or
 * git is missing). A directory seen before costs no git process: its HEAD is read
 * from the repository's own files (falling back to git for anything unusual).
 */
export async function repositoryOf(dir: string): Promise<RepositoryInfo | null> {
  const seen = known.get(dir);
  if (seen) {
    const head = await headFromFiles(seen.gitDir);
    if (head !== undefined) return { root: seen.root, subdir: seen.subdir, head };
    known.delete(dir);
  }
  // The top level, then HEAD's commit; a repository without commits answers 128 after printing the top level.
  const out = await git(["rev-parse", "--show-toplevel", "HEAD"], { cwd: dir, timeoutMs: 10_000, okCodes: [128] }).catch(() => null);
  const [top, head] = out ? out.stdout.toString("utf8").split("\n") : [];
  if (!top || top.startsWith("fatal")) return null; // not a work tree (a bare repository, or inside .git)
  const [root, real] = await Promise.all([realpath(top), realpath(dir)]);
  const info = { root, subdir: path.relative(root, real), head: out!.exitCode === 0 && head && /^[0-9a-f]{40,64}$/.test(head) ? head : null };
  // Only a plain repository (its .git a directory) is read from its files next time.
  if (
    await stat(path.join(root, ".git")).then(
      (s) => s.isDirectory(),
      () => false,
    )
  )
    known.set(dir, { root, subdir: info.subdir, gitDir: path.join(root, ".git") });
  return info;
}

/**
 * HEAD's commit from `.git/HEAD` and the ref it names (loose or packed); null for a
 * branch with no commit yet; undefined when the files say something else (the
 * caller asks git then).
 */
async function headFromFiles(gitDir: string): Promise<string | null | undefined> {
  const sha = /^[0-9a-f]{40,64}$/;
  const head = await readFile(path.join(gitDir, "HEAD"), "utf8").then(
    (t) => t.trim(),
    () => null,
  );
  if (head === null) return undefined;
  if (sha.test(head)) return head;
  const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
  if (!ref || ref.includes("..")) return undefined;
  const loose = await readFile(path.join(gitDir, ref), "utf8").then(
    (t) => t.trim(),
    () => null,
  );
  if (loose !== null) return sha.test(loose) ? loose : undefined;
  const packed = await readFile(path.join(gitDir, "packed-refs"), "utf8").catch(() => "");
  const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
  if (line) {
    const id = line.split(" ")[0]!;
    return sha.test(id) ? id : undefined;
  }
  return null;
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
