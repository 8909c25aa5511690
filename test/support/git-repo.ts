/** Real git repositories for tests: made in a temporary directory, with a commit to start from. */
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { launch } from "../../src/git/launcher.js";

export interface TestRepo {
  dir: string;
  /** `git <args>` in the repository, as its user would run it; answers stdout. */
  git(...args: string[]): Promise<string>;
  write(file: string, content: string | Buffer): Promise<void>;
  read(file: string): Promise<string>;
  /** Stages and commits everything; answers the new commit. */
  commit(message: string): Promise<string>;
}

/**
 * Runs git with a fixed identity, so commits work on a machine without a git configuration. It starts from the
 * launcher's helper process, as the server's git does: a test process holding PGlite pays tens of milliseconds of CPU
 * for each fork of its own (see src/git/launcher.ts).
 */
export async function runGit(cwd: string, ...args: string[]): Promise<string> {
  const argv = ["-C", cwd, "-c", "user.email=test@codetether.local", "-c", "user.name=test", "-c", "init.defaultBranch=main", ...args];
  const ran = await launch({ file: "git", args: argv, env: process.env, timeoutMs: 120_000 });
  if (ran.exitCode !== 0) throw new Error(`git ${args.join(" ")} in ${cwd}: ${ran.startError?.message ?? `exit ${ran.exitCode}`}\n${ran.stderr}`);
  return ran.stdout.toString("utf8");
}

export async function createRepo(parent: string, name: string, files: Record<string, string | Buffer> = { "README.md": `# ${name}\n` }): Promise<TestRepo> {
  const dir = path.join(parent, name);
  await mkdir(dir, { recursive: true });
  const repo: TestRepo = {
    dir,
    git: (...args) => runGit(dir, ...args),
    write: async (file, content) => {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), content);
    },
    read: (file) => readFile(path.join(dir, file), "utf8"),
    commit: async (message) => {
      await runGit(dir, "add", "-A");
      await runGit(dir, "commit", "-qm", message);
      return (await runGit(dir, "rev-parse", "HEAD")).trim();
    },
  };
  await repo.git("init", "-q");
  for (const [file, content] of Object.entries(files)) await repo.write(file, content);
  await repo.commit(`init ${name}`);
  return repo;
}

/** A scratch directory (symlinks resolved) and its removal. */
export async function scratch(prefix: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
