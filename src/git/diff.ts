/**
 * What a run changed, read from its worktree against the commit it started from:
 * committed and uncommitted changes, new files included, binary files named but
 * not inlined, and a patch cut at a size cap on a file boundary (so what is kept
 * still applies) with the cut said out loud.
 */
import { git, gitText, nulFields, ownCommitSettings } from "./git.js";

export type FileStatus = "added" | "modified" | "deleted" | "renamed" | "copied" | "type_changed";

export interface FileChange {
  path: string;
  /** The path before a rename or copy. */
  old_path?: string;
  status: FileStatus;
  /** Lines added and removed; 0 for binary files. */
  additions: number;
  deletions: number;
  binary: boolean;
}

export interface WorktreeDiff {
  files: FileChange[];
  additions: number;
  deletions: number;
  /** `git diff --binary` of the files that fit under the cap: `git apply` takes it. */
  patch: Buffer;
  /** Some files' changes are left out of `patch` (the cap); `omitted_files` says how many. */
  truncated: boolean;
  omitted_files: number;
  /** The worktree's HEAD commit when the diff was taken. */
  head_commit: string;
}

const statusLetters: Record<string, FileStatus> = { A: "added", M: "modified", D: "deleted", R: "renamed", C: "copied", T: "type_changed" };

/**
 * Commits whatever the worktree holds that its HEAD does not (one commit per turn,
 * so undoing a turn is a reset) and answers the HEAD commit either way.
 */
export async function commitAll(worktree: string, message: string): Promise<{ head: string; committed: boolean }> {
  await git(["add", "--all", "--", "."], { cwd: worktree, timeoutMs: 10 * 60_000 });
  const staged = await git(["diff", "--cached", "--quiet"], { cwd: worktree, okCodes: [1] });
  const committed = staged.exitCode === 1;
  if (committed) await git([...ownCommitSettings, "commit", "--quiet", "--no-verify", "-m", message], { cwd: worktree });
  return { head: await gitText(["rev-parse", "HEAD"], { cwd: worktree }), committed };
}

/** Splits `git diff` output into its per-file sections (each starts with `diff --git `). */
function fileSections(patch: Buffer): Buffer[] {
  const marker = Buffer.from("diff --git ");
  const starts: number[] = [];
  for (let at = patch.indexOf(marker); at !== -1; at = patch.indexOf(marker, at + 1)) {
    if (at === 0 || patch[at - 1] === 0x0a) starts.push(at);
  }
  return starts.map((start, i) => patch.subarray(start, starts[i + 1] ?? patch.length));
}

/**
 * The worktree's change against `baseCommit`. Ignored files (`.gitignore`) are not
 * part of it; `maxPatchBytes` caps the stored patch.
 */
export async function worktreeDiff(worktree: string, baseCommit: string, maxPatchBytes: number): Promise<WorktreeDiff> {
  await git(["add", "--all", "--", "."], { cwd: worktree, timeoutMs: 10 * 60_000 });
  const common = ["diff", "--cached", "--find-renames", "--no-ext-diff", "--no-textconv", "--no-color"];
  const [numstat, names, head] = await Promise.all([
    git([...common, "--numstat", "-z", baseCommit, "--"], { cwd: worktree }),
    git([...common, "--name-status", "-z", baseCommit, "--"], { cwd: worktree }),
    gitText(["rev-parse", "HEAD"], { cwd: worktree }),
  ]);
  const files = parseNameStatus(nulFields(names.stdout));
  const counts = parseNumstat(nulFields(numstat.stdout));
  for (const file of files) {
    const n = counts.get(file.path);
    if (!n) continue;
    file.additions = n.additions;
    file.deletions = n.deletions;
    file.binary = n.binary;
  }
  // One byte past the cap tells "exactly at the cap" from "cut".
  const raw = await git([...common, "--binary", "--full-index", baseCommit, "--"], { cwd: worktree, maxBytes: maxPatchBytes + 1, timeoutMs: 10 * 60_000 });
  let patch = raw.stdout;
  let kept = files.length;
  if (raw.truncated || patch.length > maxPatchBytes) {
    const sections = fileSections(patch);
    // The last section may be cut short: keep only whole ones that fit.
    let size = 0;
    kept = 0;
    for (const [i, section] of sections.entries()) {
      const whole = i < sections.length - 1 || !raw.truncated;
      if (!whole || size + section.length > maxPatchBytes) break;
      size += section.length;
      kept++;
    }
    patch = Buffer.concat(sections.slice(0, kept));
  }
  return {
    files,
    additions: files.reduce((n, f) => n + f.additions, 0),
    deletions: files.reduce((n, f) => n + f.deletions, 0),
    patch,
    truncated: kept < files.length,
    omitted_files: files.length - kept,
    head_commit: head,
  };
}

function parseNameStatus(fields: string[]): FileChange[] {
  const files: FileChange[] = [];
  for (let i = 0; i < fields.length; ) {
    const code = fields[i++]!;
    const status = statusLetters[code[0]!] ?? "modified";
    if (status === "renamed" || status === "copied") {
      const old_path = fields[i++]!;
      files.push({ path: fields[i++]!, old_path, status, additions: 0, deletions: 0, binary: false });
    } else {
      files.push({ path: fields[i++]!, status, additions: 0, deletions: 0, binary: false });
    }
  }
  return files;
}

/** `--numstat -z`: `added\tdeleted\tpath\0`, or for a rename `added\tdeleted\t\0old\0new\0`; `-` counts for binary files. */
function parseNumstat(fields: string[]): Map<string, { additions: number; deletions: number; binary: boolean }> {
  const counts = new Map<string, { additions: number; deletions: number; binary: boolean }>();
  for (let i = 0; i < fields.length; ) {
    const [added, deleted, inline] = fields[i++]!.split("\t");
    let file = inline;
    if (file === "") {
      i++; // the old path
      file = fields[i++];
    }
    if (file === undefined) break;
    const binary = added === "-" && deleted === "-";
    counts.set(file, { additions: binary ? 0 : Number(added), deletions: binary ? 0 : Number(deleted), binary });
  }
  return counts;
}

/**
 * A patch as text for people (and JSON): binary files named, not inlined
 * ("Binary files differ"), as UTF-8, with the cut said at its end.
 */
export function readablePatch(diff: Pick<WorktreeDiff, "patch" | "truncated" | "omitted_files">, branch: string): string {
  const marker = Buffer.from("\nGIT binary patch\n");
  const text = fileSections(diff.patch)
    .map((section) => {
      const at = section.indexOf(marker);
      if (at === -1) return section.toString("utf8");
      // As git itself says it without --binary, so diff viewers know the form.
      const names = /^diff --git a\/(.*) b\/(.*)$/m.exec(section.subarray(0, section.indexOf(0x0a)).toString("utf8"));
      const [from, to] = names ? [`a/${names[1]}`, `b/${names[2]}`] : ["a", "b"];
      return `${section.subarray(0, at + 1).toString("utf8")}Binary files ${from} and ${to} differ\n`;
    })
    .join("");
  if (!diff.truncated) return text;
  return `${text}${text && !text.endsWith("\n") ? "\n" : ""}# … diff truncated: ${diff.omitted_files} more file(s) not shown (size cap); branch ${branch} has them all\n`;
}
