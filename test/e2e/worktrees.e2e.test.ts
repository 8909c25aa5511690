/**
 * Every run in its own worktree, with its diff as the result: the real
 * `codetether serve` (embedded database, restarted and killed), the real OpenCode,
 * the scripted model and real git. The user's tree, and their uncommitted edit,
 * stay theirs through every step until they apply a run.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../../src/opencode/process.js";
import { repoRoot, type ServerProcess, startCli } from "../support/cli.js";
import { type FakeLlm, startFakeLlm } from "../support/fake-llm.js";
import { runGit } from "../support/git-repo.js";
import { createOpencodeSandbox, type OpencodeSandbox } from "../support/opencode-sandbox.js";
import { eventually, killOpencodeOn } from "../support/processes.js";
import { connectSse } from "../support/sse-client.js";

const userEdit = "# app\n\nThe user's own edit, not committed.\n";

describe("runs in worktrees, their diffs, apply and discard", { timeout: 900_000 }, () => {
  let llm: FakeLlm;
  let sandbox: OpencodeSandbox;
  let dataDir: string;
  let opencodePort: number;
  let server: ServerProcess;
  let dir: string;
  let codebaseId: string;
  /** session id → its trigger's answer */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  const runs = new Map<string, any>();
  /** marker → the session of the run it started */
  const sessionOf = new Map<string, string>();

  const start = async () => {
    server = await startCli(["serve", "--port", "0"], {
      ...sandbox.env,
      CODETETHER_DATA_DIR: dataDir,
      DATABASE_URL: "",
      OPENCODE_HOST: "127.0.0.1",
      OPENCODE_PORT: String(opencodePort),
      LOG_LEVEL: "info",
    });
    // OpenCode boots in the background; these runs want it up (a run accepted while it boots is tested elsewhere).
    await eventually(
      async () => ((await api("GET", "/v1/opencode/status")).body.opencode_server.state === "ready" ? true : undefined),
      60_000,
      "OpenCode ready",
    );
  };
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any; text: string; headers: Headers }> => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  const base = () => `/v1/opencode/codebases/${codebaseId}`;
  const userStatus = () => runGit(dir, "status", "--porcelain");

  /** Triggers a run and reads its stream until it completes; answers the trigger and the run's events. */
  const run = async (marker: string, body: Record<string, unknown> = {}) => {
    const trigger = await api("POST", `${base()}/trigger`, { prompt: `${marker} do the work`, new_session: true, ...body });
    assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
    const events = await eventsUntilComplete(trigger.body.last_event_id, trigger.body.session_id);
    runs.set(trigger.body.session_id, trigger.body);
    sessionOf.set(marker, trigger.body.session_id);
    return { trigger: trigger.body, events };
  };
  const eventsUntilComplete = async (after: number, sessionId: string) => {
    const sse = await connectSse(`${server.url}${base()}/events?last_event_id=${after}&session_id=${sessionId}`);
    try {
      for (let n = 1; ; n++) {
        const e = (await sse.waitFor(n))[n - 1]!;
        if (e.event === "complete") return sse.events.map((m) => ({ type: m.event!, data: JSON.parse(m.data) }));
      }
    } finally {
      sse.close();
    }
  };

  before(async () => {
    llm = await startFakeLlm();
    sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
    dataDir = path.join(sandbox.root, "data");
    opencodePort = await freePort();
    dir = await sandbox.createCodebase("app", { "README.md": "# app\n", "shared.txt": "one\ntwo\nthree\n" });
    await writeFile(path.join(dir, "README.md"), userEdit);
    await start();
    const res = await api("POST", "/v1/opencode/codebases", { name: "app", path: dir });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.isolation, "worktree");
    codebaseId = res.body.id;
  });
  after(async () => {
    // What an operator reads after these runs, kept for a look.
    await mkdir(path.join(repoRoot, "test-artifacts", "worktrees"), { recursive: true });
    if (server) await writeFile(path.join(repoRoot, "test-artifacts", "worktrees", "server.log"), server.output());
    server?.child.kill("SIGKILL");
    await server?.exited;
    killOpencodeOn(opencodePort);
    await llm?.close();
    await sandbox?.cleanup();
  });

  test("two runs at once each write a file in a worktree of their own; neither file reaches the other's tree or the user's", { timeout: 180_000 }, async () => {
    const before = await userStatus();
    llm.setScriptFor("[run-a]", [{ tool: "write", args: { filePath: "a.txt", content: "from run a\n" } }, { text: "Wrote a.txt." }]);
    llm.setScriptFor("[run-b]", [{ tool: "write", args: { filePath: "b.txt", content: "from run b\n" } }, { text: "Wrote b.txt." }]);
    const [a, b] = await Promise.all([run("[run-a]"), run("[run-b]")]);
    for (const r of [a, b]) {
      assert.equal(r.trigger.isolation, "worktree");
      assert.match(r.trigger.worktree.branch, /^codetether\/[0-9a-f]{8}-run-/);
      assert.ok(!r.trigger.worktree.path.startsWith(dir), "never inside the user's tree");
      assert.equal(r.events.at(-1)!.data.status, "completed");
      // The turn's diff goes out before the run's end, as the final one.
      const diffs = r.events.filter((e) => e.type === "diff");
      assert.ok(diffs.length >= 1, r.events.map((e) => e.type).join(","));
      assert.equal(diffs.at(-1)!.data.final, true);
      assert.equal(diffs.at(-1)!.data.files, 1);
      assert.equal(diffs.at(-1)!.data.additions, 1);
      assert.ok(r.events.some((e) => e.type === "file_change"));
    }
    const [wa, wb] = [a.trigger.worktree.path, b.trigger.worktree.path];
    assert.notEqual(wa, wb);
    assert.equal(await readFile(path.join(wa, "a.txt"), "utf8"), "from run a\n");
    assert.equal(await readFile(path.join(wb, "b.txt"), "utf8"), "from run b\n");
    assert.equal(existsSync(path.join(wa, "b.txt")), false);
    assert.equal(existsSync(path.join(wb, "a.txt")), false);
    assert.equal(existsSync(path.join(dir, "a.txt")), false);
    assert.equal(existsSync(path.join(dir, "b.txt")), false);
    assert.equal(await userStatus(), before);
    assert.equal(await readFile(path.join(dir, "README.md"), "utf8"), userEdit);
    // Each turn is one commit on the run's branch.
    assert.match(await runGit(dir, "log", "-1", "--format=%an %s", a.trigger.worktree.branch), /^CodeTether /);
    const codebase = await api("GET", base());
    assert.equal(codebase.body.worktrees.count, 2);
    assert.ok(codebase.body.worktrees.disk_bytes > 0);
  });

  test("the diff is stored and served: a per-file summary, the unified diff, and a patch git apply takes", { timeout: 180_000 }, async () => {
    const sessionA = sessionOf.get("[run-a]")!;
    const diff = await api("GET", `${base()}/sessions/${sessionA}/diff`);
    assert.equal(diff.status, 200, diff.text);
    assert.equal(diff.body.state, "active");
    assert.deepEqual(
      diff.body.files.map((f: { path: string; status: string; additions: number }) => [f.path, f.status, f.additions]),
      [["a.txt", "added", 1]],
    );
    assert.match(diff.body.diff, /\+from run a/);
    assert.equal(diff.body.truncated, false);
    const patch = await api("GET", `${base()}/sessions/${sessionA}/diff?format=patch`);
    assert.equal(patch.status, 200);
    assert.match(patch.headers.get("content-type") ?? "", /text\/x-diff/);
    const clone = path.join(sandbox.root, "clone");
    await runGit(sandbox.root, "clone", "-q", dir, clone);
    await runGit(clone, "checkout", "-q", diff.body.base_commit);
    await writeFile(path.join(sandbox.root, "a.patch"), patch.text);
    await runGit(clone, "apply", "--check", path.join(sandbox.root, "a.patch"));
    const session = await api("GET", `${base()}/sessions/${sessionA}`);
    assert.equal(session.body.worktree.files_changed, 1);
    assert.equal(session.body.worktree.branch, runs.get(sessionA).worktree.branch);
  });

  test("apply: A fast-forwards; B no longer can (409), and merges; the user's uncommitted edit survives both", { timeout: 180_000 }, async () => {
    const [sessionA, sessionB] = [sessionOf.get("[run-a]")!, sessionOf.get("[run-b]")!];
    const a = await api("POST", `${base()}/sessions/${sessionA}/apply`, { mode: "fast-forward" });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.state, "applied");
    assert.deepEqual(a.body.files, ["a.txt"]);
    assert.equal(await readFile(path.join(dir, "a.txt"), "utf8"), "from run a\n");
    assert.equal(await readFile(path.join(dir, "README.md"), "utf8"), userEdit);
    assert.equal(existsSync(runs.get(sessionA).worktree.path), false, "an applied run's worktree is removed");
    assert.equal((await runGit(dir, "branch", "--list", runs.get(sessionA).worktree.branch)).trim(), "", "a merged branch is deleted");
    const again = await api("POST", `${base()}/sessions/${sessionA}/apply`, {});
    assert.equal(again.status, 409);
    const ff = await api("POST", `${base()}/sessions/${sessionB}/apply`, { mode: "fast-forward" });
    assert.equal(ff.status, 409, ff.text);
    assert.match(ff.body.detail, /mode "merge"/);
    const merged = await api("POST", `${base()}/sessions/${sessionB}/apply`, { mode: "merge" });
    assert.equal(merged.status, 200, merged.text);
    assert.equal((await runGit(dir, "rev-list", "--parents", "-n", "1", "HEAD")).trim().split(" ").length, 3);
    assert.equal(await readFile(path.join(dir, "b.txt"), "utf8"), "from run b\n");
    assert.equal(await readFile(path.join(dir, "README.md"), "utf8"), userEdit);
  });

  test("a run that changes a file the user has uncommitted edits in: apply is a 409 naming it and changes nothing; discard removes worktree and branch", {
    timeout: 180_000,
  }, async () => {
    llm.setScriptFor("[run-c]", [
      { tool: "write", args: { filePath: "README.md", content: "# app\n\nThe agent's README.\n" } },
      { text: "Rewrote the README." },
    ]);
    const c = await run("[run-c]");
    const sessionC = c.trigger.session_id;
    const head = await runGit(dir, "rev-parse", "HEAD");
    const status = await userStatus();
    for (const mode of ["merge", "fast-forward", "uncommitted"]) {
      const res = await api("POST", `${base()}/sessions/${sessionC}/apply`, { mode });
      assert.equal(res.status, 409, `${mode}: ${res.text}`);
      assert.deepEqual(res.body.conflicts, ["README.md"], mode);
      assert.match(res.body.detail, /README\.md/);
    }
    assert.equal(await runGit(dir, "rev-parse", "HEAD"), head);
    assert.equal(await userStatus(), status);
    assert.equal(await readFile(path.join(dir, "README.md"), "utf8"), userEdit);
    const discard = await api("POST", `${base()}/sessions/${sessionC}/discard`);
    assert.equal(discard.status, 200, discard.text);
    assert.equal(existsSync(c.trigger.worktree.path), false);
    assert.equal((await runGit(dir, "branch", "--list", c.trigger.worktree.branch)).trim(), "");
    const diff = await api("GET", `${base()}/sessions/${sessionC}/diff`);
    assert.equal(diff.status, 200);
    assert.equal(diff.body.state, "discarded");
    assert.equal(diff.body.path, null);
    assert.match(diff.body.diff, /The agent's README/);
  });

  test("diffs survive a restart of the server; a run's per-codebase limit is a 409 while it is reached", { timeout: 180_000 }, async () => {
    server.child.kill("SIGTERM");
    await server.exited;
    await start();
    for (const [sessionId] of runs) {
      const diff = await api("GET", `${base()}/sessions/${sessionId}/diff`);
      assert.equal(diff.status, 200, diff.text);
      assert.equal(diff.body.files.length, 1);
    }
    const patched = await api("PATCH", base(), { agent_config: { max_concurrent_runs: 1 } });
    assert.equal(patched.status, 200, patched.text);
    llm.setScriptFor("[run-hang]", [{ hangMs: 300_000, text: "thinking" }]);
    const hanging = await api("POST", `${base()}/trigger`, { prompt: "[run-hang] wait", new_session: true });
    assert.equal(hanging.status, 202, hanging.text);
    // A new session's worktree is taken (from the pool), and its OpenCode session made, while the trigger's checks
    // run: a run they refuse leaves no branch and no session behind. The pool is refilled only after a taken
    // worktree's branch is made, so once it is full again whatever a refused trigger did to the repository is done.
    const branches = () => runGit(dir, "branch", "--list");
    // Every directory's sessions (the worktrees' each are a directory's of their own).
    const opencodeSessions = async () => {
      const res = await fetch(`http://127.0.0.1:${opencodePort}/experimental/session?limit=1000`);
      return ((await res.json()) as { id: string }[]).map((s) => s.id).sort();
    };
    const poolRefilled = () =>
      eventually(async () => ((await api("GET", "/v1/opencode/status")).body.worktrees.pooled === 1 ? true : undefined), 60_000, "pool refilled");
    await poolRefilled();
    const branchesBefore = await branches();
    const sessionsBefore = await opencodeSessions();
    assert.ok(sessionsBefore.includes(hanging.body.session_id), "OpenCode lists every directory's sessions");
    const second = await api("POST", `${base()}/trigger`, { prompt: "[run-x] more", new_session: true });
    assert.equal(second.status, 409, second.text);
    assert.match(second.body.detail, /max_concurrent_runs = 1/);
    const unrunnable = await api("POST", `${base()}/trigger`, { prompt: "[run-x] more", new_session: true, model: "nowhere/none" });
    assert.equal(unrunnable.status, 422, unrunnable.text);
    await poolRefilled();
    assert.equal(await branches(), branchesBefore);
    assert.deepEqual(await opencodeSessions(), sessionsBefore, "the refused runs' sessions were made and deleted, or never made");
    const codebase = await api("GET", base());
    assert.equal(codebase.body.runs_in_flight, 1);
    assert.equal((await api("POST", `${base()}/sessions/${hanging.body.session_id}/abort`)).status, 202);
    await eventsUntilComplete(hanging.body.last_event_id, hanging.body.session_id);
    await api("PATCH", base(), { agent_config: {} });
  });

  test("SIGKILL mid-run leaves nothing that blocks: the lost run resumes in its own worktree and its uncommitted work is in its diff", {
    timeout: 180_000,
  }, async () => {
    llm.setScriptFor("[run-d]", [
      { tool: "write", args: { filePath: "d.txt", content: "written before the kill\n" } },
      { hangMs: 300_000, text: "still going" },
    ]);
    const trigger = await api("POST", `${base()}/trigger`, { prompt: "[run-d] write then hang", new_session: true });
    assert.equal(trigger.status, 202, trigger.text);
    const { session_id: sessionD, worktree } = trigger.body;
    await eventually(async () => (existsSync(path.join(worktree.path, "d.txt")) ? true : undefined), 60_000, "d.txt written");
    // Killed in the middle of a git command: its lock file stays behind.
    const gitdir = (await runGit(worktree.path, "rev-parse", "--absolute-git-dir")).trim();
    await writeFile(path.join(gitdir, "index.lock"), "");
    server.child.kill("SIGKILL");
    await server.exited;
    killOpencodeOn(opencodePort);
    await start();
    const lost = await eventually(
      async () => {
        const s = await api("GET", `${base()}/sessions/${sessionD}`);
        return s.body.status === "failed" ? s.body : undefined;
      },
      60_000,
      "the lost run marked failed",
    );
    assert.match(lost.error, /lost|RunLost|stopped/i);
    llm.setScriptFor("[run-d]", [{ text: "Picking up where I was." }]);
    const resumed = await api("POST", `${base()}/trigger`, { prompt: "continue", session_id: sessionD });
    assert.equal(resumed.status, 202, resumed.text);
    assert.equal(resumed.body.worktree.path, worktree.path, "a resumed session continues in its own worktree");
    const events = await eventsUntilComplete(resumed.body.last_event_id, sessionD);
    assert.equal(events.at(-1)!.data.status, "completed", JSON.stringify(events.at(-1)));
    const diff = await api("GET", `${base()}/sessions/${sessionD}/diff`);
    assert.deepEqual(
      diff.body.files.map((f: { path: string }) => f.path),
      ["d.txt"],
    );
    assert.equal(existsSync(path.join(dir, "d.txt")), false);
    // And a new run starts as if nothing had happened.
    llm.setScriptFor("[run-e]", [{ text: "Nothing to change." }]);
    const e = await run("[run-e]");
    assert.equal(e.events.at(-1)!.data.status, "completed");
  });

  test("a codebase that is not a git repository runs in its directory, and says so", { timeout: 180_000 }, async () => {
    const plain = path.join(sandbox.root, "plain");
    await mkdir(plain, { recursive: true });
    const created = await api("POST", "/v1/opencode/codebases", { name: "plain", path: plain });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.isolation, "none");
    llm.setScriptFor("[run-plain]", [{ tool: "write", args: { filePath: path.join(plain, "p.txt"), content: "plain\n" } }, { text: "ok" }]);
    const trigger = await api("POST", `/v1/opencode/codebases/${created.body.id}/trigger`, { prompt: "[run-plain] write", new_session: true });
    assert.equal(trigger.status, 202, trigger.text);
    assert.equal(trigger.body.isolation, "none");
    assert.match(trigger.body.isolation_reason, /not a git repository/);
    assert.equal(trigger.body.worktree, null);
    const withBase = await api("POST", `/v1/opencode/codebases/${created.body.id}/trigger`, { prompt: "x", new_session: true, base_ref: "main" });
    assert.equal(withBase.status, 422, withBase.text);
    const diff = await api("GET", `/v1/opencode/codebases/${created.body.id}/sessions/${trigger.body.session_id}/diff`);
    assert.equal(diff.status, 404);
    assert.match(diff.body.detail, /without isolation/);
  });

  test("base_ref names the commit a run starts from; one that names nothing is a 422", { timeout: 180_000 }, async () => {
    const bad = await api("POST", `${base()}/trigger`, { prompt: "x", new_session: true, base_ref: "no-such-branch" });
    assert.equal(bad.status, 422, bad.text);
    assert.match(bad.body.detail, /base_ref "no-such-branch" names no commit/);
    const first = (await runGit(dir, "rev-list", "--max-parents=0", "HEAD")).trim();
    llm.setScriptFor("[run-base]", [{ text: "Looked around." }]);
    const r = await run("[run-base]", { base_ref: first });
    assert.equal(r.trigger.worktree.base_commit, first);
    assert.equal(existsSync(path.join(r.trigger.worktree.path, "a.txt")), false, "the worktree is at the base, before A was applied");
  });

  test("the operator's log names each run's worktree problems, and no request failed with a 500", () => {
    assert.doesNotMatch(server.output(), /"status":500/);
    assert.doesNotMatch(server.output(), /taking the run's diff failed|recording the run's final diff failed/);
  });
});
