/**
 * The `git` CLI, run with argument arrays (never a shell), a timeout, and an
 * environment that can neither prompt for credentials nor take optional locks in
 * a repository we only read. Everything CodeTether does with git goes through here.
 */
import { notStarted } from "./command.js";
import { launch } from "./launcher.js";

export class GitError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(
      `git ${args
        .filter((a) => !a.startsWith("-c") && !a.includes("="))
        .slice(0, 3)
        .join(" ")} failed (exit ${exitCode}): ${redactUrls(stderr.trim()).slice(0, 500)}`,
    );
    this.name = "GitError";
  }
}

export interface GitOptions {
  /** The directory git runs in (`-C`). */
  cwd: string;
  /** Written to git's standard input. */
  input?: Buffer | string;
  /** Default 60 s: a git command that hangs (a network remote, a stuck lock) must not hold a run forever. */
  timeoutMs?: number;
  /** Exit codes that are answers, not failures (`git diff --quiet` answers 1 for "differs"). */
  okCodes?: readonly number[];
  /** Keep at most this many bytes of standard output; past it the command is stopped and `truncated` is set. */
  maxBytes?: number;
  /** Extra environment (an index file of our own, say). */
  env?: Record<string, string>;
}

export interface GitResult {
  stdout: Buffer;
  exitCode: number;
  /** Standard output was cut at `maxBytes`. */
  truncated: boolean;
}

/** Variables that would point git at another repository than `cwd`'s, dropped from what it inherits. */
const repositoryVariables = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE", "GIT_PREFIX"];

function gitEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of repositoryVariables) delete env[name];
  return {
    ...env,
    // Never wait for a password on a terminal nobody watches: a push without credentials fails at once.
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: env.GIT_ASKPASS ?? "",
    SSH_ASKPASS: env.SSH_ASKPASS ?? "",
    // `git status` in the user's repository must not rewrite its index (a refresh it did not ask for).
    GIT_OPTIONAL_LOCKS: "0",
    // Messages we parse (conflicting paths) are the C locale's.
    LC_ALL: "C",
    LANG: "C",
    ...extra,
  };
}

/** Runs `git -C cwd ...args`; rejects with a GitError unless it exits 0 (or with one of `okCodes`). */
export async function git(args: readonly string[], options: GitOptions): Promise<GitResult> {
  const { stdout, exitCode, truncated, stderr, startError } = await launch({
    file: "git",
    args: ["-C", options.cwd, ...args],
    env: gitEnv(options.env),
    input: options.input,
    timeoutMs: options.timeoutMs ?? 60_000,
    maxBytes: options.maxBytes,
  }).catch((err: Error) => notStarted(err)); // the helper was lost: a failure like any other
  if (startError) throw new GitError(args, null, startError.code === "ENOENT" ? "git is not installed (not on PATH)" : startError.message);
  if (truncated) return { stdout, exitCode: exitCode ?? 0, truncated };
  if (exitCode === 0 || (exitCode !== null && options.okCodes?.includes(exitCode))) return { stdout, exitCode, truncated };
  throw new GitError(args, exitCode, stderr);
}

/** Standard output as text, without the trailing newline. */
export async function gitText(args: readonly string[], options: GitOptions): Promise<string> {
  return (await git(args, options)).stdout.toString("utf8").replace(/\n$/, "");
}

/** NUL-separated output (`-z`) as its fields. */
export function nulFields(out: Buffer): string[] {
  const fields = out.toString("utf8").split("\0");
  if (fields.at(-1) === "") fields.pop();
  return fields;
}

/** Credentials written into remote URLs (`https://user:token@host`) never reach a message or a log. */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, "$1***@");
}

/**
 * Settings for commits CodeTether makes in its own worktrees: a fixed identity,
 * no signing prompt, no hooks of the user's repository (they are the user's, for the user's commits).
 */
export const ownCommitSettings = [
  "-c",
  "user.name=CodeTether",
  "-c",
  "user.email=codetether@localhost",
  "-c",
  "commit.gpgsign=false",
  "-c",
  "core.hooksPath=/dev/null",
] as const;

/**
 * Serializes git's changes to one repository within this process (adding and
 * removing worktrees, moving branches, merging): git's own lock files would make a
 * second concurrent change fail instead of wait.
 */
export class RepositoryLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(repo: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(repo) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    const tail = next.catch(() => {});
    this.tails.set(repo, tail);
    void tail.then(() => {
      if (this.tails.get(repo) === tail) this.tails.delete(repo);
    });
    return next;
  }
}
