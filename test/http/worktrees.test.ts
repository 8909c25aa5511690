/**
 * Runs' worktrees and diffs through the API, on both databases, with real git:
 * a run's diff as JSON and as a patch, apply and discard and their 4xx answers
 * (conflicts named on REST and tRPC alike), a worker's reports fenced by its lease
 * with the patch's bytes kept exactly, work on a worker's worktree queued for that
 * worker only, max_concurrent_runs at claim time, and clean-up that keeps branches.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { TRPCError } from "@trpc/server";
import { eq, sql } from "drizzle-orm";
import type { NewEvent } from "../../src/contracts/events.js";
import { sessions, worktrees } from "../../src/db/schema.js";
import type { WorktreeDiff } from "../../src/git/diff.js";
import { getCodebaseRow } from "../../src/services/codebases/codebases.js";
import { pruneWorktrees } from "../../src/services/worktrees/cleanup.js";
import { localRecorder, openLocalWorkspace } from "../../src/services/worktrees/local.js";
import { WorkspaceTracker } from "../../src/workspace/workspace.js";
import { testDrivers } from "../support/db.js";
import { createRepo, runGit, type TestRepo } from "../support/git-repo.js";
import { createHarness, type Harness } from "../support/harness.js";

for (const driver of testDrivers()) {
  describe(`runs' worktrees and diffs through the API (${driver.name})`, () => {
    let h: Harness;
    let repo: TestRepo;
    let codebaseId: string;
    let n = 0;
    before(async () => {
      h = await createHarness(driver, { localConcurrency: 0, leaseSeconds: 30 });
      repo = await createRepo(h.tmp, "app", { "shared.txt": "one\ntwo\n", "README.md": "# app\n" });
      const res = await h.request("POST", "/v1/opencode/codebases", { name: "app", path: repo.dir });
      const body = await res.json();
      assert.equal(res.status, 201, JSON.stringify(body));
      assert.equal(body.isolation, "worktree");
      codebaseId = body.id;
    });
    after(() => h.close());

    /** A finished run as a trigger leaves it: a session, its worktree, what it wrote, the final diff. */
    async function finishedRun(files: Record<string, string | Buffer>): Promise<{ sessionId: string; worktreePath: string; events: NewEvent[] }> {
      const codebase = await getCodebaseRow({ ctx: h.ctx, id: codebaseId });
      const opened = await openLocalWorkspace({ ctx: h.ctx, codebase, directory: repo.dir, title: `run ${++n}` });
      assert.equal(opened.isolation, "worktree");
      if (opened.isolation !== "worktree") throw new Error("no worktree");
      await opened.ready;
      const sessionId = `ses_test${n}${driver.name}`;
      await h.ctx.database.db.insert(sessions).values({ id: sessionId, codebaseId, title: `run ${n}`, status: "completed" });
      const recorder = localRecorder({ ctx: h.ctx, codebaseId, taskId: null });
      await recorder.opened(opened.worktree, sessionId);
      for (const [file, content] of Object.entries(files)) await writeFile(path.join(opened.worktree.path, file), content);
      const events: NewEvent[] = [];
      const tracker = new WorkspaceTracker({
        worktree: opened.worktree,
        sessionId,
        maxPatchBytes: 1 << 20,
        recorder,
        push: (e) => events.push(e),
        flushed: async () => {},
      });
      await tracker.endTurn();
      return { sessionId, worktreePath: opened.worktree.path, events };
    }
    const diffOf = (sessionId: string, query = "") => h.request("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}/diff${query}`);
    const change = (sessionId: string, verb: string, body?: unknown) =>
      h.request("POST", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}/${verb}`, body);

    test("a run's diff: the files, the unified diff, and the patch; its events name a file no tool reported", async () => {
      const run = await finishedRun({ "notes.txt": "from the run\n" });
      assert.deepEqual(
        run.events.map((e) => e.type),
        ["file_change", "diff"],
      );
      assert.deepEqual(run.events[0]!.data, { session_id: run.sessionId, action: "created", path: "notes.txt" });
      const res = await diffOf(run.sessionId);
      assert.equal(res.status, 200);
      const diff = await res.json();
      assert.deepEqual(diff.files, [{ path: "notes.txt", status: "added", additions: 1, deletions: 0, binary: false }]);
      assert.match(diff.diff, /^\+from the run$/m);
      assert.deepEqual(await h.trpc.sessions.diff({ codebaseId, sessionId: run.sessionId }), diff);
      const patch = await diffOf(run.sessionId, "?format=patch");
      assert.match(patch.headers.get("content-type") ?? "", /^text\/x-diff/);
      assert.equal(patch.headers.get("x-diff-truncated"), "false");
      assert.match(await patch.text(), /^diff --git a\/notes.txt b\/notes.txt/);
      const session = await (await h.request("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${run.sessionId}`)).json();
      assert.equal(session.worktree.files_changed, 1);
      assert.equal(session.worktree.state, "active");
    });

    test("4xx: unknown sessions and tasks, a session without a worktree, a bad mode or body", async () => {
      assert.equal((await diffOf("ses_nope")).status, 404);
      assert.equal((await h.request("GET", "/v1/opencode/tasks/nope/diff")).status, 404);
      await h.ctx.database.db.insert(sessions).values({ id: `ses_plain${driver.name}`, codebaseId, title: "plain", status: "completed" });
      const none = await diffOf(`ses_plain${driver.name}`);
      assert.equal(none.status, 404);
      assert.match((await none.json()).detail, /ran without isolation/);
      const run = await finishedRun({ "x.txt": "x\n" });
      const mode = await change(run.sessionId, "apply", { mode: "rebase" });
      assert.equal(mode.status, 422);
      assert.match((await mode.json()).detail, /mode/);
      assert.equal((await change(run.sessionId, "apply", { mode: "merge", extra: 1 })).status, 422);
      assert.equal((await h.request("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${run.sessionId}/diff?format=zip`)).status, 422);
      // A run still going is not applied under its feet.
      await h.ctx.database.db.update(sessions).set({ status: "running" }).where(eq(sessions.id, run.sessionId));
      const running = await change(run.sessionId, "discard");
      assert.equal(running.status, 409);
      assert.match((await running.json()).detail, /still running/);
      await h.ctx.database.db.update(sessions).set({ status: "completed" }).where(eq(sessions.id, run.sessionId));
      assert.equal((await change(run.sessionId, "discard")).status, 200);
      const twice = await change(run.sessionId, "discard");
      assert.equal(twice.status, 409);
      assert.match((await twice.json()).detail, /already discarded/);
    });

    test("a conflict is a 409 that names the files, on REST and tRPC, and changes nothing; then apply works", async () => {
      const run = await finishedRun({ "shared.txt": "one\ntwo (the run)\n" });
      await repo.write("shared.txt", "one\ntwo (the user, not committed)\n");
      const head = await repo.git("rev-parse", "HEAD");
      const res = await change(run.sessionId, "apply", { mode: "merge" });
      assert.equal(res.status, 409);
      const body = await res.json();
      assert.deepEqual(body.conflicts, ["shared.txt"]);
      assert.match(body.detail, /uncommitted changes in: shared\.txt/);
      await assert.rejects(h.trpc.sessions.applyChanges({ codebaseId, sessionId: run.sessionId, mode: "merge" }), (err: TRPCError) => {
        assert.equal(err.code, "CONFLICT");
        return true;
      });
      assert.equal(await repo.git("rev-parse", "HEAD"), head);
      assert.equal(await repo.read("shared.txt"), "one\ntwo (the user, not committed)\n");
      await repo.git("checkout", "--", "shared.txt");
      const ok = await change(run.sessionId, "apply", {});
      assert.equal(ok.status, 200, JSON.stringify(await ok.clone().json()));
      const applied = await ok.json();
      assert.equal(applied.mode, "merge");
      assert.equal(await repo.read("shared.txt"), "one\ntwo (the run)\n");
      assert.equal(existsSync(run.worktreePath), false);
      // The audit trail has the apply that happened, once, and none of the refused ones.
      const trail = await (await h.request("GET", `/v1/opencode/audit?action=worktree.apply&target_id=${applied.worktree_id}`)).json();
      assert.deepEqual(
        trail.map((e: { detail: { mode: string; commit: string } }) => [e.detail.mode, e.detail.commit]),
        [["merge", applied.commit]],
      );
    });

    test("clean-up removes ended worktrees past their time to live, keeping the branch: apply still works from it", async () => {
      const run = await finishedRun({ "late.txt": "applied after clean-up\n" });
      await h.ctx.database.db.update(worktrees).set({ endedAt: sql`now() - interval '1000 hours'` }).where(eq(worktrees.sessionId, run.sessionId));
      assert.ok((await pruneWorktrees(h.ctx)) >= 1);
      assert.equal(existsSync(run.worktreePath), false);
      const diff = await (await diffOf(run.sessionId)).json();
      assert.equal(diff.state, "removed");
      assert.equal(diff.path, null);
      // A pool refill's `git worktree add` writes its admin files one by one, and `git branch --list` reads every
      // worktree's: let it finish first (one run failed reading a half-made one's commondir).
      await h.ctx.worktrees.poolReady();
      assert.ok((await runGit(repo.dir, "branch", "--list", diff.branch)).includes(diff.branch), "the branch stays");
      const applied = await change(run.sessionId, "apply", { mode: "uncommitted" });
      assert.equal(applied.status, 200, JSON.stringify(await applied.clone().json()));
      assert.equal(await repo.read("late.txt"), "applied after clean-up\n");
      await repo.git("add", "late.txt");
      await repo.git("commit", "-qm", "take the late file");
    });

    describe("a worker's worktree", () => {
      let worker: string;
      let remote: string;
      before(async () => {
        remote = (await (await h.request("POST", "/v1/opencode/codebases", { name: `w-app`, path: "/projects/app", worker_id: "w1" })).json()).id;
        for (const name of ["w1", "w2"]) {
          const reg = await h.request("POST", "/v1/opencode/worker/register", { name, codebases: [{ name: "w-app", path: "/projects/app" }] });
          assert.equal(reg.status, 200);
        }
        worker = "w1";
      });
      const post = (p: string, body: unknown) => h.request("POST", `/v1/opencode/worker${p}`, body);
      const claim = async (name: string) => {
        const res = await post("/claim", { name });
        return res.status === 204 ? null : res.json();
      };
      const report = (taskId: string, body: Record<string, unknown>) => post(`/tasks/${taskId}/worktree`, body);
      const about = {
        worktree_id: "wt_00112233445566aa",
        repo_path: "/projects/app",
        path: "/home/w1/.local/share/codetether/worktrees/w-app/wt_00112233445566aa",
        directory: "/home/w1/.local/share/codetether/worktrees/w-app/wt_00112233445566aa",
        branch: "codetether/00112233-remote-run",
        base_ref: "HEAD",
        base_commit: "a".repeat(40),
      };

      test("reports are fenced by the lease; the patch's bytes come back exactly; the diff event rides the outbox", async () => {
        const created = await h.request("POST", `/v1/opencode/codebases/${remote}/tasks`, { title: "remote run", prompt: "go" });
        const task = await created.json();
        const c = await claim(worker);
        assert.equal(c.task.id, task.id);
        assert.equal(c.diff_max_bytes, h.ctx.config.worktrees.diffMaxBytes);
        assert.equal(c.action, null);
        const stale = await report(task.id, { lease_token: "not-it", session_id: "ses_remote1", ...about });
        assert.equal(stale.status, 409);
        const first = await report(task.id, { lease_token: c.lease_token, ...about });
        assert.equal(first.status, 422, "the first report names the session");
        assert.equal((await report(task.id, { lease_token: c.lease_token, session_id: "ses_remote1", ...about })).status, 200);
        const bytes = Buffer.from([0, 255, 10, 13, 0xc3, 0x28, 7]);
        const diff: Omit<WorktreeDiff, "patch" | "head_commit"> = {
          files: [{ path: "blob.bin", status: "added", additions: 0, deletions: 0, binary: true }],
          additions: 0,
          deletions: 0,
          truncated: false,
          omitted_files: 0,
        };
        const stored = await report(task.id, {
          lease_token: c.lease_token,
          ...about,
          head_commit: "b".repeat(40),
          diff: { ...diff, patch_base64: bytes.toString("base64") },
        });
        assert.equal(stored.status, 200, JSON.stringify(await stored.clone().json()));
        const patch = await h.request("GET", `/v1/opencode/tasks/${task.id}/diff?format=patch`);
        assert.deepEqual([...Buffer.from(await patch.arrayBuffer())], [...bytes]);
        const json = await (await h.request("GET", `/v1/opencode/tasks/${task.id}/diff`)).json();
        assert.equal(json.runner, worker);
        assert.equal(json.session_id, "ses_remote1");
        assert.equal(json.head_commit, "b".repeat(40));
        // The event a worker uploads about its diff is one the server takes.
        const ev = await post(`/tasks/${task.id}/events`, {
          lease_token: c.lease_token,
          events: [
            {
              seq: 1,
              type: "diff",
              data: {
                session_id: "ses_remote1",
                worktree_id: about.worktree_id,
                branch: about.branch,
                base_commit: about.base_commit,
                head_commit: "b".repeat(40),
                files: 1,
                additions: 0,
                deletions: 0,
                truncated: false,
                final: true,
              },
            },
          ],
        });
        assert.equal(ev.status, 200, JSON.stringify(await ev.clone().json()));
        await post(`/tasks/${task.id}/complete`, { lease_token: c.lease_token, status: "completed", session_id: "ses_remote1" });
        // Another task's lease cannot write into this worktree.
        const other = await (await h.request("POST", `/v1/opencode/codebases/${remote}/tasks`, { title: "other", prompt: "go" })).json();
        const oc = await claim(worker);
        assert.equal(oc.task.id, other.id);
        const foreign = await report(other.id, { lease_token: oc.lease_token, session_id: "ses_remote2", ...about });
        assert.equal(foreign.status, 409);
        await post(`/tasks/${other.id}/complete`, { lease_token: oc.lease_token, status: "completed" });
      });

      test("applying it is queued for that worker alone, as work of its own; its report moves the worktree on", async () => {
        const [task] = await h.trpc.tasks.list({ q: "remote run" });
        const queued = await h.request("POST", `/v1/opencode/tasks/${task!.id}/apply`, { mode: "fast-forward" });
        assert.equal(queued.status, 202);
        const answer = await queued.json();
        assert.equal(answer.state, "queued");
        assert.equal(await claim("w2"), null, "another worker with the codebase does not get it");
        const c = await claim(worker);
        assert.equal(c.task.id, answer.task_id);
        assert.equal(c.task.kind, "apply");
        assert.equal(c.action.op, "apply");
        assert.equal(c.action.mode, "fast-forward");
        assert.equal(c.action.worktree_id, about.worktree_id);
        assert.equal(c.action.branch, about.branch);
        const wrong = await report(answer.task_id, { lease_token: c.lease_token, ...about, worktree_id: "wt_ffffffffffffffff", state: "applied" });
        assert.equal(wrong.status, 409);
        const done = await report(answer.task_id, {
          lease_token: c.lease_token,
          ...about,
          state: "applied",
          applied_mode: "fast-forward",
          applied_commit: "c".repeat(40),
        });
        assert.equal(done.status, 200);
        const finished = await (await post(`/tasks/${answer.task_id}/complete`, { lease_token: c.lease_token, status: "completed", result: "{}" })).json();
        assert.equal(finished.status, "completed");
        const diff = await (await h.request("GET", `/v1/opencode/tasks/${task!.id}/diff`)).json();
        assert.equal(diff.state, "applied");
        assert.equal(diff.applied_commit, "c".repeat(40));
        // Work on a worktree ends without a `complete` event (a client would take it for a run's end).
        const history = await h.trpc.events.history({ codebaseId: remote, task_id: answer.task_id });
        assert.deepEqual(
          history.items.map((e) => [e.type, (e.data as { status?: string }).status]),
          [
            ["status", "queued"],
            ["status", "claimed"],
            ["status", "apply_completed"],
          ],
        );
      });

      test("max_concurrent_runs holds tasks back at claim time while the codebase has that many in flight", async () => {
        await h.request("PATCH", `/v1/opencode/codebases/${remote}`, { agent_config: { max_concurrent_runs: 1 } });
        const a = await (await h.request("POST", `/v1/opencode/codebases/${remote}/tasks`, { title: "limit a", prompt: "go" })).json();
        const b = await (await h.request("POST", `/v1/opencode/codebases/${remote}/tasks`, { title: "limit b", prompt: "go" })).json();
        const first = await claim(worker);
        assert.equal(first.task.id, a.id);
        assert.equal(await claim(worker), null, "the second waits while the first runs");
        const codebase = await (await h.request("GET", `/v1/opencode/codebases/${remote}`)).json();
        assert.equal(codebase.runs_in_flight, 1);
        await post(`/tasks/${a.id}/complete`, { lease_token: first.lease_token, status: "completed" });
        const second = await claim(worker);
        assert.equal(second.task.id, b.id);
        await post(`/tasks/${b.id}/complete`, { lease_token: second.lease_token, status: "completed" });
      });
    });
  });
}
