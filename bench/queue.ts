/**
 * Issue #4's figures:
 *  - tasks per second through create, claim and complete, with 1, 4 and 16 workers
 *    speaking the worker protocol over HTTP to a server on a real socket;
 *  - the time from a worker's death (SIGKILL) to its task running on another worker,
 *    with real `codetether-worker` processes and the real OpenCode.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import postgres from "postgres";
import { apiKey, startCluster } from "../test/support/cluster.js";
import { postgresDriver, type TestDriver } from "../test/support/db.js";
import { eventually } from "../test/support/processes.js";
import { connectSse } from "../test/support/sse-client.js";
import { checkoutAt } from "./checkout.js";
import { startQueueFloor } from "./queue-floor.js";
import { summary } from "./stats.js";

/**
 * Our server on a database (the server of another checkout at `root`, to compare before and after side by side), or
 * a floor: in memory, or durable (one statement per call on the Postgres of `databaseUrl`).
 */
export type QueueTarget = { kind: "server"; driver: TestDriver; root?: string } | { kind: "floor"; databaseUrl?: string };

/** A server a queue benchmark drives: its URL, a JSON POST (null for a 204), and its database's URL when it has one of its own. */
export interface QueueServer {
  url: string;
  /** A directory of its own, for the codebases the benchmark registers. */
  dir: string;
  databaseUrl: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the benchmarks read arbitrary JSON
  post(path: string, body: unknown): Promise<any>;
  close(): Promise<void>;
}

/** Starts `target` (ours on a fresh database, no local runner: only the benchmark claims; or a floor). */
export async function startQueueServer(target: QueueTarget): Promise<QueueServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ct-bench-"));
  const ours = target.kind === "server" ? await checkoutAt(target.root) : undefined;
  const db = ours && target.kind === "server" ? await ours.driverOf(target.driver).create() : undefined;
  const server =
    ours && db
      ? await ours.startServer({ config: ours.testConfig({ dataDir: dir, localConcurrency: 0 }), database: db.database })
      : await startQueueFloor(target.kind === "floor" ? target.databaseUrl : undefined);
  return {
    url: server.url,
    dir,
    databaseUrl: db?.url ?? undefined,
    async post(p, body) {
      const res = await fetch(`${server.url}${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (res.status >= 300 && res.status !== 204) throw new Error(`${p}: HTTP ${res.status} ${await res.text()}`);
      return res.status === 204 ? null : ((await res.json()) as Record<string, unknown>);
    },
    async close() {
      await server.close(1000);
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One producer creates `total` tasks (32 requests in flight) while `workers`
 * simulated workers each loop claim → complete until every task is done: one task
 * per call, or `batch` tasks per create (`POST …/tasks/batch`), per claim and per completion call.
 */
export async function benchQueueThroughput(target: QueueTarget, workers: number, options: { total?: number; batch?: number } = {}): Promise<number> {
  const total = options.total ?? 2000;
  const batch = options.batch ?? 1;
  const server = await startQueueServer(target);
  const { post, dir: tmp } = server;
  try {
    const cb = await post("/v1/opencode/codebases", { name: "bench", path: tmp });
    const names = Array.from({ length: workers }, (_, i) => `bench-${i}`);
    for (const name of names) await post("/v1/opencode/worker/register", { name, codebases: [{ name: "bench", path: tmp }] });

    let created = 0;
    let completed = 0;
    const start = performance.now();
    const produce = async () => {
      while (created < total) {
        if (batch === 1) {
          const i = created++;
          await post(`/v1/opencode/codebases/${cb!.id}/tasks`, { title: `t${i}`, prompt: "p", priority: i % 5 });
          continue;
        }
        const n = Math.min(batch, total - created);
        const first = created;
        created += n;
        const tasks = Array.from({ length: n }, (_, k) => ({ title: `t${first + k}`, prompt: "p", priority: (first + k) % 5 }));
        await post(`/v1/opencode/codebases/${cb!.id}/tasks/batch`, { tasks });
      }
    };
    const dry = () => new Promise((r) => setTimeout(r, 5)); // the queue ran dry ahead of the producer
    const work = async (name: string) => {
      while (completed < total) {
        if (batch === 1) {
          const claim = await post("/v1/opencode/worker/claim", { name });
          if (!claim) {
            await dry();
            continue;
          }
          await post(`/v1/opencode/worker/tasks/${claim.task.id}/complete`, { lease_token: claim.lease_token, status: "completed", result: "ok" });
          completed++;
        } else {
          const { claims } = (await post("/v1/opencode/worker/claims", { name, max_tasks: batch }))!;
          if (claims.length === 0) {
            await dry();
            continue;
          }
          const completions = claims.map((c: { task: { id: string }; lease_token: string }) => ({
            task_id: c.task.id,
            lease_token: c.lease_token,
            status: "completed",
            result: "ok",
          }));
          await post("/v1/opencode/worker/completions", { completions });
          completed += claims.length;
        }
      }
    };
    await Promise.all([...Array.from({ length: 32 }, produce), ...names.map(work)]);
    return (total / (performance.now() - start)) * 1000;
  } finally {
    await server.close();
  }
}

/**
 * A claim with a deep queue: `pending` tasks waiting (written straight into the server's Postgres, then analyzed, as
 * autovacuum would have within a minute), then `rounds` claims one after another over HTTP; answers the claims'
 * median and p99 in ms. `queue: "own"`: the tasks are the claiming worker's, and each claim takes one (and completes
 * it); `"another"`: they are another worker's codebase's, and the claiming worker has nothing to take (a 204). A claim
 * that reads the whole queue (in order, or sorted), or that Postgres JIT-compiles for its estimated cost, grows with
 * it; one that reads the heads of its own codebases' queues does not.
 */
export async function benchDeepClaim(
  databaseUrl: string,
  options: { pending?: number; rounds?: number; queue?: "own" | "another"; root?: string } = {},
): Promise<{ median: number; p99: number }> {
  const { pending = 50_000, rounds = 40, queue = "own", root } = options;
  const server = await startQueueServer({ kind: "server", driver: postgresDriver(databaseUrl), root });
  const { post, dir: tmp } = server;
  const admin = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
  try {
    const mine = await post("/v1/opencode/codebases", { name: "deep", path: tmp });
    await post("/v1/opencode/worker/register", { name: "deep-worker", codebases: [{ name: "deep", path: tmp }] });
    const full = queue === "own" ? mine! : (await post("/v1/opencode/codebases", { name: "theirs", path: "/projects/theirs", worker_id: "other-worker" }))!;
    await admin`insert into tasks (id, codebase_id, title, prompt, priority)
      select 'deep-' || g, ${full.id}, 'waiting ' || g, 'p', g % 5 from generate_series(1, ${pending}::int) g`;
    await admin`analyze`;
    const times: number[] = [];
    for (let i = 0; i < rounds + 5; i++) {
      const started = performance.now();
      const claim = await post("/v1/opencode/worker/claim", { name: "deep-worker", wait_seconds: 0 });
      if (i >= 5) times.push(performance.now() - started); // the first few plan afresh; then the prepared plan runs
      if ((claim === null) !== (queue === "another")) throw new Error(`a claim of the ${queue} queue answered ${JSON.stringify(claim)}`);
      if (claim) await post(`/v1/opencode/worker/tasks/${claim.task.id}/complete`, { lease_token: claim.lease_token, status: "completed", result: "ok" });
    }
    const s = summary(times);
    return { median: s.median, p99: s.p99 };
  } finally {
    await admin.end();
    await server.close();
  }
}

/**
 * Enqueue → claimed by an idle real `codetether-worker` (long-polling), over 20
 * tasks: from `POST …/tasks` sent to the task's `claimed` event on the stream.
 */
export async function benchClaimLatency(rounds = 20): Promise<{ median: number; p99: number; max: number }> {
  const c = await startCluster({ workers: ["idle-worker"] });
  const times: number[] = [];
  try {
    await c.online(["idle-worker"]);
    // Live from now (no cursor): only this bench's tasks' events.
    const sse = await connectSse(`${c.server.url}/v1/opencode/codebases/${c.codebaseId}/events`, { authorization: `Bearer ${apiKey}` });
    for (let i = 0; i < rounds; i++) {
      c.llm.setScript([{ text: `done ${i}` }]);
      // The worker waits on the server already: let it settle into its long poll.
      await new Promise((r) => setTimeout(r, 300));
      const sent = performance.now();
      const created = await c.api("POST", `/v1/opencode/codebases/${c.codebaseId}/tasks`, { title: `latency ${i}`, prompt: "Say done" });
      for (let n = sse.events.length; ; n++) {
        const e = (await sse.waitFor(n + 1))[n]!;
        const data = JSON.parse(e.data);
        if (e.event === "status" && data.status === "claimed" && data.task_id === created.body.id && !times[i]) times[i] = performance.now() - sent;
        if (e.event === "complete" && data.task_id === created.body.id) break;
      }
    }
    sse.close();
  } finally {
    await c.close();
  }
  const s = summary(times);
  return { median: s.median, p99: s.p99, max: s.max };
}

/**
 * A task runs on one of two real workers; that worker is SIGKILLed; how long until
 * the other one has claimed it? Bounded by the lease: it cannot lapse sooner.
 */
export async function benchFailover(leaseSeconds: number, rounds = 3): Promise<string> {
  const c = await startCluster({ workers: ["worker-a", "worker-b"], leaseSeconds });
  const times: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      c.llm.setScript([{ hangMs: 600_000, text: `Working ${round}` }, { text: "Taken over." }]);
      const created = await c.api("POST", `/v1/opencode/codebases/${c.codebaseId}/tasks`, { title: `failover ${round}`, prompt: "Hang" });
      await c.readStream((e) => e.type === "output" && e.data.content === `Working ${round}`);
      const running = await c.task(created.body.id);
      const killedAt = performance.now();
      await c.killWorker(running.worker_id);
      await eventually(
        async () => {
          const t = await c.task(created.body.id);
          return t.status === "running" && t.attempts === 2 ? true : undefined;
        },
        120_000,
        "the task to run on the other worker",
      );
      times.push(performance.now() - killedAt);
      await c.finished(created.body.id);
      await c.spawnWorker(running.worker_id);
      await c.online([running.worker_id]);
    }
  } finally {
    await c.close();
  }
  const sorted = times.sort((a, b) => a - b);
  return `${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(1)} s median (${sorted.map((t) => (t / 1000).toFixed(1)).join(", ")} s over ${rounds} kills)`;
}
