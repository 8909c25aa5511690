/**
 * The git layer on real repositories: worktrees that never touch the user's tree,
 * diffs with new, deleted, renamed and binary files and a size cap that keeps the
 * patch applicable, a warm pool, and recovery from what a killed process leaves.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { commitAll, readablePatch, worktreeDiff } from "../../src/git/diff.js";
import { redactUrls } from "../../src/git/git.js";
import { branchExists, repositoryOf } from "../../src/git/repo.js";
import { WorktreeManager } from "../../src/git/worktrees.js";
import { abandonWorkspace, openWorkspace } from "../../src/workspace/workspace.js";
import { createRepo, runGit, scratch } from "../support/git-repo.js";

describe("run worktrees", () => {
  let tmp: Awaited<ReturnType<typeof scratch>>;
  let n = 0;
  before(async () => {
    tmp = await scratch("ct-git-");
  });
  after(() => tmp.cleanup());

  const fresh = async (files?: Record<string, string | Buffer>) => {
    const repo = await createRepo(tmp.dir, `repo${++n}`, files);
    const manager = new WorktreeManager({ root: path.join(tmp.dir, `worktrees${n}`), poolSize: 0 });
    const info = (await repositoryOf(repo.dir))!;
    return { repo, manager, head: info.head! };
  };

  test("a worktree is made on its own branch from the base; the user's tree and uncommitted edit stay as they were", async () => {
    const { repo, manager, head } = await fresh({ "a.txt": "one\n" });
    await repo.write("a.txt", "the user's edit\n");
    const status = await repo.git("status", "--porcelain");
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_1", branch: "codetether/1-test", baseCommit: head });
    assert.ok(wt.path.startsWith(manager.root), wt.path);
    assert.equal(await runGit(wt.path, "rev-parse", "HEAD"), `${head}\n`);
    await writeFile(path.join(wt.path, "new.txt"), "from the run\n");
    assert.equal(existsSync(path.join(repo.dir, "new.txt")), false);
    assert.equal(await repo.read("a.txt"), "the user's edit\n");
    assert.equal(await repo.git("status", "--porcelain"), status);
    assert.ok(await branchExists(repo.dir, "codetether/1-test"));
  });

  test("the diff counts committed and uncommitted changes, new, deleted and renamed files, and names binary files without inlining them", async () => {
    const long = Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join("");
    const { repo, manager, head } = await fresh({ "keep.txt": "keep\n", "gone.txt": "bye\n", "old-name.txt": long, "img.bin": Buffer.from([0, 1, 2, 3]) });
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_2", branch: "codetether/2-diff", baseCommit: head });
    await writeFile(path.join(wt.path, "keep.txt"), "keep\nmore\n");
    await commitAll(wt.path, "turn 1");
    await writeFile(path.join(wt.path, "added.txt"), "new\n");
    await runGit(wt.path, "rm", "-q", "gone.txt");
    await runGit(wt.path, "mv", "old-name.txt", "new-name.txt");
    await writeFile(path.join(wt.path, "img.bin"), Buffer.from([0, 9, 9, 9, 0, 255]));
    const diff = await worktreeDiff(wt.path, head, 1 << 20);
    const byPath = Object.fromEntries(diff.files.map((f) => [f.path, f]));
    assert.deepEqual(Object.keys(byPath).sort(), ["added.txt", "gone.txt", "img.bin", "keep.txt", "new-name.txt"]);
    assert.equal(byPath["keep.txt"]!.status, "modified");
    assert.equal(byPath["keep.txt"]!.additions, 1);
    assert.equal(byPath["added.txt"]!.status, "added");
    assert.equal(byPath["gone.txt"]!.status, "deleted");
    assert.equal(byPath["new-name.txt"]!.status, "renamed");
    assert.equal(byPath["new-name.txt"]!.old_path, "old-name.txt");
    assert.equal(byPath["img.bin"]!.binary, true);
    assert.equal(diff.truncated, false);
    const text = readablePatch(diff, "codetether/2-diff");
    assert.match(text, /^Binary files a\/img.bin and b\/img.bin differ$/m);
    assert.doesNotMatch(text, /GIT binary patch/);
    // The stored patch is binary-safe: it applies to the base and gives the worktree's files.
    const check = path.join(tmp.dir, `check${n}`);
    await runGit(tmp.dir, "clone", "-q", repo.dir, check);
    await runGit(check, "checkout", "-q", head);
    await applyPatch(check, diff.patch);
    assert.equal(await readFile(path.join(check, "added.txt"), "utf8"), "new\n");
    assert.equal(await readFile(path.join(check, "keep.txt"), "utf8"), "keep\nmore\n");
    assert.equal(existsSync(path.join(check, "gone.txt")), false);
    assert.equal(await readFile(path.join(check, "new-name.txt"), "utf8"), long);
    assert.deepEqual([...(await readFile(path.join(check, "img.bin")))], [0, 9, 9, 9, 0, 255]);
  });

  test("a patch over the cap keeps whole files only, says how many it left out, and still applies", async () => {
    const { repo, manager, head } = await fresh();
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_3", branch: "codetether/3-big", baseCommit: head });
    for (let i = 0; i < 50; i++) await writeFile(path.join(wt.path, `f${String(i).padStart(2, "0")}.txt`), `${"x".repeat(200)}\n`.repeat(10));
    const full = await worktreeDiff(wt.path, head, 10 << 20);
    const cut = await worktreeDiff(wt.path, head, Math.floor(full.patch.length / 3));
    assert.equal(cut.files.length, 50, "the summary names every file");
    assert.ok(cut.truncated);
    assert.ok(cut.omitted_files > 0 && cut.omitted_files < 50);
    assert.ok(cut.patch.length <= full.patch.length / 3);
    assert.match(readablePatch(cut, "codetether/3-big"), /diff truncated: \d+ more file\(s\) not shown/);
    await runGit(repo.dir, "stash", "-u", "-q").catch(() => {});
    await applyPatch(repo.dir, cut.patch, true);
  });

  test("removing a worktree removes its files; a discard deletes its branch, a merged one only if merged", async () => {
    const { repo, manager, head } = await fresh();
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_4", branch: "codetether/4-x", baseCommit: head });
    await writeFile(path.join(wt.path, "untracked.txt"), "x\n");
    await commitAll(wt.path, "turn");
    await manager.remove(wt, "merged");
    assert.equal(existsSync(wt.path), false);
    assert.ok(await branchExists(repo.dir, "codetether/4-x"), "an unmerged branch survives a 'merged' delete");
    await manager.remove(wt, "force");
    assert.equal(await branchExists(repo.dir, "codetether/4-x"), false);
    assert.equal((await repo.git("worktree", "list")).split("\n").filter(Boolean).length, 1);
  });

  test("a removed worktree of a resumed run comes back on its branch, with its commits", async () => {
    const { repo, manager, head } = await fresh();
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_5", branch: "codetether/5-resume", baseCommit: head });
    await writeFile(path.join(wt.path, "kept.txt"), "kept\n");
    await commitAll(wt.path, "turn");
    await manager.remove(wt);
    const back = await manager.reopen(wt, head);
    assert.equal(back.recreated, true);
    assert.equal(back.baseCommit, head);
    assert.equal(existsSync(path.join(wt.path, "kept.txt")), true);
  });

  test("a warm pool hands out a worktree at the base without a checkout, and refills", async () => {
    const { repo, head } = await fresh({ "a.txt": "a\n" });
    const manager = new WorktreeManager({ root: path.join(tmp.dir, "pooled"), poolSize: 1 });
    manager.refill(repo.dir, "cb");
    await manager.poolReady();
    assert.equal(manager.pooled(), 1);
    await repo.write("b.txt", "b\n");
    const moved = await repo.commit("the user commits after the pool was made");
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_6", branch: "codetether/6-pool", baseCommit: moved });
    assert.equal(await runGit(wt.path, "rev-parse", "HEAD"), `${moved}\n`);
    assert.equal(existsSync(path.join(wt.path, "b.txt")), true);
    assert.equal(await runGit(wt.path, "status", "--porcelain"), "");
    await manager.poolReady();
    assert.equal(manager.pooled(), 1, "refilled");
    // Taken at the commit it was prepared at: only the branch is made (no checkout), and the tree is clean.
    const same = await manager.create({ repo: repo.dir, key: "cb", id: "wt_6b", branch: "codetether/6b-same", baseCommit: moved });
    await same.ready;
    assert.equal((await runGit(same.path, "symbolic-ref", "--short", "HEAD")).trim(), "codetether/6b-same");
    assert.equal(await runGit(same.path, "rev-parse", "HEAD"), `${moved}\n`);
    assert.equal(await runGit(same.path, "status", "--porcelain"), "");
    assert.match(await runGit(repo.dir, "worktree", "list", "--porcelain"), new RegExp(`worktree ${same.path}\n[^\n]*\nbranch refs/heads/codetether/6b-same`));
    await manager.poolReady();
    await manager.drainPool();
    assert.equal(manager.pooled(), 0);
    assert.ok(head);
  });

  test("a workspace opened ahead of a run (onlyIfPooled) takes a pooled worktree when one is ready, and makes none otherwise", async () => {
    const { repo } = await fresh({ "a.txt": "a\n" });
    const manager = new WorktreeManager({ root: path.join(tmp.dir, "ahead"), poolSize: 1 });
    const request = { manager, codebaseDir: repo.dir, workingDirectory: repo.dir, setting: undefined, key: "cb", title: "ahead", onlyIfPooled: true as const };
    const worktrees = () => runGit(repo.dir, "worktree", "list", "--porcelain");
    const before = await worktrees();
    // Nothing is ready yet: no `git worktree add` for a run that may be refused.
    assert.equal(await openWorkspace(request), null);
    assert.equal(await worktrees(), before);
    manager.refill(repo.dir, "cb");
    await manager.poolReady();
    const opened = await openWorkspace(request);
    assert.ok(opened && opened.isolation === "worktree");
    await opened.ready;
    assert.match(await worktrees(), new RegExp(`worktree ${opened.worktree.path}\n[^\n]*\nbranch refs/heads/${opened.worktree.branch}`));
    await abandonWorkspace(manager, opened);
    assert.equal(await branchExists(repo.dir, opened.worktree.branch), false);
    await manager.poolReady();
    await manager.drainPool();
  });

  test("without a worktree the run works in its directory, and says why; whether git versions it is known on asking", async () => {
    const manager = new WorktreeManager({ root: path.join(tmp.dir, "unused"), poolSize: 0 });
    const open = (codebaseDir: string, setting?: "none", baseRef?: string) =>
      openWorkspace({ manager, codebaseDir, workingDirectory: codebaseDir, setting, key: "cb", title: "t", baseRef });
    const { repo } = await fresh({ "a.txt": "a\n" });
    const plain = path.join(tmp.dir, "plain");
    await mkdir(plain);
    const empty = path.join(tmp.dir, "empty");
    await mkdir(empty);
    await runGit(empty, "init", "-q");
    const cases = [
      { dir: repo.dir, setting: "none" as const, reason: /agent_config.isolation is none/, versioned: true },
      { dir: plain, setting: undefined, reason: /not a git repository/, versioned: false },
      // A repository without a commit cannot have a worktree: the codebase reads as unversioned until it has one.
      { dir: empty, setting: undefined, reason: /no commits yet/, versioned: false },
    ];
    for (const c of cases) {
      const opened = await open(c.dir, c.setting);
      assert.ok(opened.isolation === "none", c.dir);
      assert.equal(opened.directory, c.dir);
      assert.match(opened.reason, c.reason);
      assert.equal(await opened.versioned(), c.versioned, c.dir);
    }
    await assert.rejects(open(repo.dir, "none", "HEAD"), /base_ref needs worktree isolation, and this run has none: agent_config.isolation is none/);
  });

  test("a drained pool makes no more worktrees, not even a refill that was waiting out its delay", async () => {
    const { repo, head } = await fresh({ "a.txt": "a\n" });
    const root = path.join(tmp.dir, "drained");
    const manager = new WorktreeManager({ root, poolSize: 1 });
    // A run's worktree asks for a refill a little later; the process shuts down first.
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_d", branch: "codetether/d-drain", baseCommit: head });
    await manager.drainPool();
    manager.refill(repo.dir, "cb");
    // Past the refill's delay (1.5 s): a timer left running would have made a pooled worktree by now.
    await new Promise((r) => setTimeout(r, 2000));
    await manager.poolReady();
    assert.equal(manager.pooled(), 0);
    const listed = await runGit(repo.dir, "worktree", "list", "--porcelain");
    assert.deepEqual(
      [...listed.matchAll(/^worktree (.+)$/gm)].map((m) => m[1]).filter((p) => p!.startsWith(root)),
      [wt.path],
      "only the run's own worktree",
    );
  });

  test("after a kill: a stale index.lock and an interrupted, locked worktree do not block the next run", async () => {
    const { repo, manager, head } = await fresh();
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: "wt_7", branch: "codetether/7-crash", baseCommit: head });
    const gitdir = (await runGit(wt.path, "rev-parse", "--absolute-git-dir")).trim();
    await writeFile(path.join(gitdir, "index.lock"), "");
    // What `git worktree add` leaves when killed half way: an admin entry marked locked.
    const half = path.join(manager.root, "cb", "wt_half");
    await repo.git("worktree", "add", "-q", "--lock", "--detach", half, head);
    await manager.recover(repo.dir, "cb");
    assert.equal(existsSync(path.join(gitdir, "index.lock")), false);
    assert.equal(existsSync(half), false);
    await writeFile(path.join(wt.path, "after.txt"), "x\n");
    await commitAll(wt.path, "turn after the crash");
    const next = await manager.create({ repo: repo.dir, key: "cb", id: "wt_8", branch: "codetether/8-next", baseCommit: head });
    assert.ok(existsSync(next.path));
  });

  test("credentials in remote URLs are masked", () => {
    assert.equal(redactUrls("fatal: could not read from https://bob:ghp_secret@github.com/x.git"), "fatal: could not read from https://***@github.com/x.git");
  });
});

async function applyPatch(dir: string, patch: Buffer, checkOnly = false): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("git", ["apply", ...(checkOnly ? ["--check"] : []), "-"], { cwd: dir, stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`git apply failed: ${err}`))));
    child.stdin.end(patch);
  });
}
