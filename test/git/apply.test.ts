/**
 * Applying a run's branch to the user's repository on real repositories: a
 * fast-forward, a merge commit, uncommitted changes; a conflict (with the branch,
 * with the user's uncommitted or staged work) is refused, names the files and
 * changes nothing; a push goes to a real (bare) remote.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ApplyConflict, applyBranch, NoRemote, pushBranch } from "../../src/git/apply.js";
import { commitAll } from "../../src/git/diff.js";
import { branchExists } from "../../src/git/repo.js";
import { WorktreeManager } from "../../src/git/worktrees.js";
import { createRepo, runGit, scratch } from "../support/git-repo.js";

describe("applying a run's branch", () => {
  let tmp: Awaited<ReturnType<typeof scratch>>;
  let n = 0;
  before(async () => {
    tmp = await scratch("ct-apply-");
  });
  after(() => tmp.cleanup());

  /** A repository, and a run's branch that changed `shared.txt` and added `run.txt`. */
  async function withRun() {
    const repo = await createRepo(tmp.dir, `repo${++n}`, { "shared.txt": "one\ntwo\nthree\n", "other.txt": "other\n" });
    const base = (await repo.git("rev-parse", "HEAD")).trim();
    const manager = new WorktreeManager({ root: path.join(tmp.dir, `wt${n}`), poolSize: 0 });
    const branch = `codetether/${n}-run`;
    const wt = await manager.create({ repo: repo.dir, key: "cb", id: `wt_${n}`, branch, baseCommit: base });
    await writeFile(path.join(wt.path, "shared.txt"), "one\ntwo (the run)\nthree\n");
    await writeFile(path.join(wt.path, "run.txt"), "added by the run\n");
    await commitAll(wt.path, "turn 1");
    const state = async () => ({ head: await repo.git("rev-parse", "HEAD"), status: await repo.git("status", "--porcelain") });
    return { repo, base, branch, state, message: `Merge ${branch}` };
  }

  test("fast-forward: the branch goes in; the user's uncommitted edit of another file survives", async () => {
    const { repo, base, branch, message } = await withRun();
    await repo.write("other.txt", "the user's edit\n");
    const out = await applyBranch(repo.dir, { branch, baseCommit: base, mode: "fast-forward", message });
    assert.equal(out.mode, "fast-forward");
    assert.deepEqual(out.files.sort(), ["run.txt", "shared.txt"]);
    assert.equal(await repo.read("run.txt"), "added by the run\n");
    assert.equal(await repo.read("other.txt"), "the user's edit\n");
    assert.equal((await repo.git("rev-parse", "HEAD")).trim(), out.commit);
  });

  test("fast-forward after the user's branch moved is refused, naming the way that works; nothing changes", async () => {
    const { repo, base, branch, state, message } = await withRun();
    await repo.write("other.txt", "moved on\n");
    await repo.commit("the user's own commit");
    const before = await state();
    await assert.rejects(applyBranch(repo.dir, { branch, baseCommit: base, mode: "fast-forward", message }), (err: Error) => {
      assert.ok(err instanceof ApplyConflict);
      assert.match(err.message, /mode "merge"/);
      return true;
    });
    assert.deepEqual(await state(), before);
  });

  test("merge: a merge commit with both sides; the user's uncommitted edit of an untouched file survives", async () => {
    const { repo, base, branch, message } = await withRun();
    await repo.write("elsewhere.txt", "user's commit\n");
    await repo.commit("the user's own commit");
    await repo.write("other.txt", "uncommitted\n");
    const out = await applyBranch(repo.dir, { branch, baseCommit: base, mode: "merge", message });
    assert.equal((await repo.git("rev-list", "--parents", "-n", "1", "HEAD")).trim().split(" ").length, 3, "two parents");
    assert.equal((await repo.git("log", "-1", "--format=%s")).trim(), message);
    assert.equal(await repo.read("shared.txt"), "one\ntwo (the run)\nthree\n");
    assert.equal(await repo.read("elsewhere.txt"), "user's commit\n");
    assert.equal(await repo.read("other.txt"), "uncommitted\n");
    assert.ok(out.commit);
    assert.ok(await branchExists(repo.dir, branch));
  });

  test("merge with a conflicting commit: refused with the file named, nothing changed", async () => {
    const { repo, base, branch, state, message } = await withRun();
    await repo.write("shared.txt", "one\ntwo (the user)\nthree\n");
    await repo.commit("the user changed the same line");
    const before = await state();
    await assert.rejects(applyBranch(repo.dir, { branch, baseCommit: base, mode: "merge", message }), (err: Error) => {
      assert.ok(err instanceof ApplyConflict);
      assert.deepEqual(err.files, ["shared.txt"]);
      assert.match(err.message, /conflicts in: shared\.txt; nothing was changed/);
      return true;
    });
    assert.deepEqual(await state(), before);
    assert.equal(await repo.read("shared.txt"), "one\ntwo (the user)\nthree\n");
  });

  test("an uncommitted edit of a file the run changed is never overwritten: refused, edit intact", async () => {
    const { repo, base, branch, state, message } = await withRun();
    await repo.write("shared.txt", "the user's unsaved work\n");
    const before = await state();
    for (const mode of ["fast-forward", "merge"] as const) {
      await assert.rejects(applyBranch(repo.dir, { branch, baseCommit: base, mode, message }), (err: Error) => {
        assert.ok(err instanceof ApplyConflict, err.message);
        assert.deepEqual(err.files, ["shared.txt"]);
        assert.match(err.message, /uncommitted changes in: shared\.txt/);
        return true;
      });
    }
    await assert.rejects(applyBranch(repo.dir, { branch, baseCommit: base, mode: "uncommitted", message }), ApplyConflict);
    assert.deepEqual(await state(), before);
    assert.equal(await repo.read("shared.txt"), "the user's unsaved work\n");
  });

  test("staged changes block a merge commit (they would be recorded in it)", async () => {
    const { repo, base, branch, message } = await withRun();
    await repo.write("elsewhere.txt", "x\n");
    await repo.commit("moved");
    await repo.write("staged.txt", "staged\n");
    await repo.git("add", "staged.txt");
    await assert.rejects(applyBranch(repo.dir, { branch, baseCommit: base, mode: "merge", message }), /staged changes \(staged\.txt\)/);
  });

  test("uncommitted: the changes land in the working tree, HEAD stays", async () => {
    const { repo, base, branch, message } = await withRun();
    await repo.write("other.txt", "the user's edit\n");
    const head = (await repo.git("rev-parse", "HEAD")).trim();
    const out = await applyBranch(repo.dir, { branch, baseCommit: base, mode: "uncommitted", message });
    assert.equal(out.commit, head);
    assert.equal((await repo.git("rev-parse", "HEAD")).trim(), head);
    assert.equal(await repo.read("run.txt"), "added by the run\n");
    assert.equal(await repo.read("shared.txt"), "one\ntwo (the run)\nthree\n");
    assert.equal(await repo.read("other.txt"), "the user's edit\n");
  });

  test("a detached HEAD takes only uncommitted changes", async () => {
    const { repo, base, branch, message } = await withRun();
    await repo.git("checkout", "-q", "--detach");
    await assert.rejects(applyBranch(repo.dir, { branch, baseCommit: base, mode: "merge", message }), /detached HEAD/);
  });

  test("push sends the branch to the remote; without a remote it says so", async () => {
    const { repo, branch } = await withRun();
    await assert.rejects(pushBranch(repo.dir, branch), NoRemote);
    const bare = path.join(tmp.dir, `remote${n}.git`);
    await runGit(tmp.dir, "init", "-q", "--bare", bare);
    await repo.git("remote", "add", "origin", bare);
    const out = await pushBranch(repo.dir, branch);
    assert.deepEqual(out, { remote: "origin", branch });
    assert.ok((await runGit(bare, "branch", "--list", branch)).includes(branch));
    await assert.rejects(pushBranch(repo.dir, branch, "upstream"), /no remote named "upstream"/);
  });
});
