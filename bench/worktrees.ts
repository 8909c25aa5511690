/**
 * Issue #20's figures, on repositories the bench makes (5,000 files, and 100,000
 * files / 1 GB), with real git, and the real OpenCode against the scripted model:
 *  - a worktree ready for a run: fresh (`git worktree add`), and from the warm pool;
 *  - the first agent turn in a fresh worktree of the big repository;
 *  - the time a trigger takes before it has prompted, isolation on vs off, side by side;
 *  - the diff summary of a run that changed 500 files;
 *  - ten runs at once on one codebase;
 *  - what one worktree takes on disk.
 * BENCH_BIG=0 leaves the 1 GB repository out (it takes a few minutes to make).
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { worktreeDiff } from "../src/git/diff.js";
import { repositoryOf } from "../src/git/repo.js";
import { diskBytes, WorktreeManager } from "../src/git/worktrees.js";
import { startAgentServer } from "../test/support/agent-server.js";
import { runGit } from "../test/support/git-repo.js";
import { testConfig } from "../test/support/harness.js";
import { connectSse } from "../test/support/sse-client.js";
import { ms, summary } from "./stats.js";

const words =
  "const let function return import export from class interface type async await if else for while switch case break new this null true false".split(" ");

/** A file of source-like text (compresses as code does), `bytes` long, the same for the same seed. */
function sourceText(seed: number, bytes: number): string {
  let x = seed * 2654435761 + 1;
  const out: string[] = [];
  let size = 0;
  while (size < bytes) {
    let line = "";
    for (let w = 0; w < 8; w++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      line += `${words[x % words.length]}${x % 7 === 0 ? `_${x % 1000}` : ""} `;
    }
    out.push(line);
    size += line.length + 1;
  }
  return `${out.join("\n")}\n`;
}

/** A committed repository of `files` files of about `fileBytes` each, 100 per directory. */
async function makeRepo(dir: string, files: number, fileBytes: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runGit(dir, "init", "-q");
  for (let i = 0; i < files; i += 100) {
    const sub = path.join(dir, "src", `mod${String(i / 100).padStart(4, "0")}`);
    await mkdir(sub, { recursive: true });
    await Promise.all(Array.from({ length: Math.min(100, files - i) }, (_, j) => writeFile(path.join(sub, `file${j}.ts`), sourceText(i + j, fileBytes))));
  }
  await runGit(dir, "add", "-A");
  await runGit(dir, "commit", "-qm", `${files} files`);
}

const time = async (work: () => Promise<unknown>) => {
  const t = performance.now();
  await work();
  return performance.now() - t;
};
const seconds = (v: number) => `${(v / 1000).toFixed(2)} s`;

/** Worktree ready, fresh and from the pool: medians of `rounds`. */
async function readiness(root: string, repo: string, rounds: number): Promise<{ fresh: number[]; pooled: number[]; disk: number | null }> {
  const head = (await repositoryOf(repo))!.head!;
  const fresh: number[] = [];
  const pooled: number[] = [];
  let disk: number | null = null;
  const cold = new WorktreeManager({ root: path.join(root, "wt-fresh"), poolSize: 0 });
  for (let i = 0; i < rounds; i++) {
    let ref!: Awaited<ReturnType<WorktreeManager["create"]>>;
    fresh.push(
      await time(async () => (ref = await cold.create({ repo, key: "bench", id: `wt_fresh${i}`, branch: `codetether/fresh-${i}`, baseCommit: head }))),
    );
    disk ??= await diskBytes(ref.path);
    await cold.remove(ref, "force");
  }
  const warm = new WorktreeManager({ root: path.join(root, "wt-pool"), poolSize: 1 });
  for (let i = 0; i < rounds; i++) {
    warm.refill(repo, "bench");
    await warm.poolReady();
    let ref!: Awaited<ReturnType<WorktreeManager["create"]>>;
    pooled.push(
      await time(async () => {
        ref = await warm.create({ repo, key: "bench", id: `wt_pool${i}`, branch: `codetether/pool-${i}`, baseCommit: head });
        await ref.ready;
      }),
    );
    await warm.poolReady();
    await warm.remove(ref, "force");
  }
  await warm.drainPool();
  return { fresh, pooled, disk };
}

export async function benchWorktrees(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const root = path.join(process.env.BENCH_DIR ?? "/tmp", `ct-bench-wt-${randomBytes(3).toString("hex")}`);
  const small = path.join(root, "small");
  const big = path.join(root, "big");
  try {
    let t = await time(() => makeRepo(small, 5000, 2000));
    console.error(`made the 5,000-file repository in ${seconds(t)}`);
    const s5 = await readiness(root, small, 5);
    out["worktree ready, 5,000 files (10 MB): fresh `git worktree add` / from the warm pool (median of 5)"] =
      `${ms(summary(s5.fresh).median)} / ${ms(summary(s5.pooled).median)}; ${((s5.disk ?? 0) / 1e6).toFixed(1)} MB on disk each`;

    // The diff of a run that changed 500 files (edits at their ends), as the tracker takes it.
    const diffMs: number[] = [];
    {
      const m = new WorktreeManager({ root: path.join(root, "wt-diff"), poolSize: 0 });
      const head = (await repositoryOf(small))!.head!;
      const ref = await m.create({ repo: small, key: "bench", id: "wt_diff", branch: "codetether/diff", baseCommit: head });
      for (let i = 0; i < 500; i++) {
        const file = path.join(ref.path, "src", `mod${String(Math.floor(i / 100)).padStart(4, "0")}`, `file${i % 100}.ts`);
        await writeFile(file, `${sourceText(i, 2000)}// changed by the run ${i}\n`);
      }
      let files = 0;
      for (let i = 0; i < 5; i++) diffMs.push(await time(async () => (files = (await worktreeDiff(ref.path, head, 2 * 1024 * 1024)).files.length)));
      out[`diff summary and patch of a run that changed ${files} files (git add, numstat, name-status, patch; median of 5)`] = ms(summary(diffMs).median);
    }

    await agentFigures(small, out);

    if (process.env.BENCH_BIG !== "0") {
      t = await time(() => makeRepo(big, 100_000, 10_000));
      const size = await diskBytes(path.join(big, "src"));
      console.error(`made the 100,000-file repository (${((size ?? 0) / 1e9).toFixed(2)} GB of files) in ${seconds(t)}`);
      const b = await readiness(root, big, 3);
      out["worktree ready, 100,000 files (1 GB): fresh / from the warm pool (median of 3)"] =
        `${seconds(summary(b.fresh).median)} / ${seconds(summary(b.pooled).median)}; ${((b.disk ?? 0) / 1e9).toFixed(2)} GB on disk each`;
      await firstTurnOnBig(big, out);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return out;
}

/** Trigger times with isolation on and off, side by side, and ten runs at once, on the small repository. */
async function agentFigures(small: string, out: Record<string, string>): Promise<void> {
  const s = await startAgentServer();
  try {
    const on = (await s.api("POST", "/v1/opencode/codebases", { name: "wt-on", path: small })).body;
    const off = (await s.api("POST", "/v1/opencode/codebases", { name: "wt-off", path: small, agent_config: { isolation: "none" } })).body;
    const events = (id: string) => `${s.server.url}/v1/opencode/codebases/${id}/events`;
    const run = async (id: string, prompt: string) => {
      const started = performance.now();
      const trigger = await s.api("POST", `/v1/opencode/codebases/${id}/trigger`, { prompt, new_session: true });
      const answered = performance.now() - started;
      const sse = await connectSse(`${events(id)}?last_event_id=${trigger.body.last_event_id}&session_id=${trigger.body.session_id}`);
      for (let n = 1; ; n++) if ((await sse.waitFor(n))[n - 1]!.event === "complete") break;
      sse.close();
      return { answered, total: performance.now() - started, trigger: trigger.body };
    };
    s.llm.setScript([]);
    // OpenCode's first prompt in a directory pays its one-time set-up: warm both directories first.
    await run(on.id, "warm up");
    await run(off.id, "warm up");
    await s.server.ctx.worktrees.poolReady();
    const withIsolation: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Alternating, so both see the same machine.
      without.push((await run(off.id, `plain ${i}`)).answered);
      await s.server.ctx.worktrees.poolReady();
      withIsolation.push((await run(on.id, `isolated ${i}`)).answered);
    }
    const a = summary(withIsolation).median;
    const b = summary(without).median;
    out["trigger answered (it has prompted), 5,000 files: isolation worktree / none, warm pool (median of 10, alternating)"] =
      `${ms(a)} / ${ms(b)} (${(a / b).toFixed(2)}×, ${ms(a - b)} added)`;

    // Ten runs at once, each writing a file: in worktrees of their own, and (side by side) all in the one directory.
    const ten = async (id: string, tag: string) => {
      for (let i = 0; i < 10; i++)
        s.llm.setScriptFor(`[${tag}-${i}]`, [{ tool: "write", args: { filePath: `${tag}-${i}.txt`, content: `${i}\n` } }, { text: "done" }]);
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => run(id, `[${tag}-${i}] write`)));
      return { wall: performance.now() - t0, runs };
    };
    await s.server.ctx.worktrees.poolReady();
    const isolated = await ten(on.id, "ten");
    const shared = await ten(off.id, "shared");
    const distinct = new Set(isolated.runs.map((r) => r.trigger.worktree.path)).size;
    out["ten runs at once on one codebase, each writing a file: in worktrees of their own / all in its directory (isolation none)"] =
      `${seconds(isolated.wall)} / ${seconds(shared.wall)} all done (${distinct} worktrees; each new worktree is a new directory to OpenCode, whose first prompt there sets it up)`;
  } finally {
    await s.close();
  }
}

/**
 * The first turn in a worktree of the big repository: from the warm pool (prepared, and
 * its directory already served by OpenCode once), and fresh (`git worktree add` and
 * OpenCode's first look at a new 100,000-file directory included).
 */
async function firstTurnOnBig(big: string, out: Record<string, string>): Promise<void> {
  for (const poolSize of [1, 0]) {
    const s = await startAgentServer(undefined, { config: { worktrees: { ...testConfig().worktrees, poolSize } } });
    try {
      const cb = (await s.api("POST", "/v1/opencode/codebases", { name: "big", path: big })).body;
      await s.server.ctx.worktrees.poolReady();
      s.llm.setScript([{ tool: "write", args: { filePath: "big-first.txt", content: "first\n" } }, { text: "done" }]);
      const started = performance.now();
      const trigger = await s.api("POST", `/v1/opencode/codebases/${cb.id}/trigger`, { prompt: "first turn", new_session: true });
      const answered = performance.now() - started;
      const sse = await connectSse(
        `${s.server.url}/v1/opencode/codebases/${cb.id}/events?last_event_id=${trigger.body.last_event_id}&session_id=${trigger.body.session_id}`,
      );
      for (let n = 1; ; n++) if ((await sse.waitFor(n))[n - 1]!.event === "complete") break;
      sse.close();
      const total = performance.now() - started;
      const label = poolSize > 0 ? "from the warm pool" : "fresh (no pool)";
      out[
        `first agent turn in a worktree of the 100,000-file repository, ${label}: trigger answered (prompted) / the turn (a write, a reply, its commit and diff) / total`
      ] = `${seconds(answered)} / ${seconds(total - answered)} / ${seconds(total)}`;
    } finally {
      await s.close();
    }
  }
}
