/**
 * A server and `codetether-worker`s as separate real processes on a fresh database
 * of the real Postgres, each worker with its own HOME (so its own `opencode serve`
 * and sessions database, as on another machine), all against one scripted model.
 */
import assert from "node:assert/strict";
import { freePort } from "../../src/opencode/process.js";
import type { ServerProcess } from "./cli.js";
import { createPostgresDatabase } from "./db.js";
import { type FakeLlm, startFakeLlm } from "./fake-llm.js";
import { createOpencodeSandbox, type OpencodeSandbox } from "./opencode-sandbox.js";
import { eventually, killOpencodeOn, startServerProcess, startWorker, type WorkerProcess } from "./processes.js";
import { connectSse } from "./sse-client.js";

export const apiKey = "client-key";
export const workerToken = "worker-token";
/** A provider key every process of the cluster has in its environment: it must never reach a log. */
export const providerKey = "sk-ant-e2e-never-log-this-0001";

/** An event as a client reads it over SSE, with its data parsed. */
export interface StreamEvent {
  id: number;
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary event fields
  data: any;
}

export interface Cluster {
  llm: FakeLlm;
  sandbox: OpencodeSandbox;
  /** The shared codebase "app1" (registered without a worker), its directory and id. */
  dir: string;
  codebaseId: string;
  server: ServerProcess;
  /** The server's database (a Postgres database of the cluster's own). */
  databaseUrl: string;
  workers: Map<string, WorkerProcess>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  task(id: string): Promise<any>;
  /** Polls the task until it is completed, failed or cancelled. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  finished(id: string, timeoutMs?: number): Promise<any>;
  /** Starts a worker with `--codebase app1:<dir>` (or the given codebase flags) and extra flags. */
  spawnWorker(name: string, options?: { codebases?: string[]; flags?: string[] }): Promise<WorkerProcess>;
  /** Waits until these workers show as online. */
  online(names: string[]): Promise<void>;
  /** SIGKILLs a worker and the `opencode serve` it leaves behind. */
  killWorker(name: string): Promise<void>;
  /** SIGKILLs the server and starts it again on the same port and database. */
  restartServer(pauseMs?: number): Promise<void>;
  /** The codebase's stream over SSE, from the start until `stop` says so about the latest event. */
  readStream(stop: (event: StreamEvent) => boolean, codebaseId?: string): Promise<StreamEvent[]>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** Workers started at once, each with `--codebase app1:<dir>`. */
  workers: string[];
  /** Extra flags for every worker this cluster starts (e.g. `--concurrency 3`). */
  workerFlags?: string[];
  leaseSeconds?: number;
  /**
   * The codebase's `agent_config.isolation` (default: the server's, a worktree per run). Queue tests that are not
   * about where an agent writes pass "none": OpenCode sets up each new directory on its first prompt (~1.5 s here),
   * and 24 tasks in 24 worktrees spend most of their time on that, not on the queue.
   */
  isolation?: "worktree" | "none";
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const baseUrl = process.env.DATABASE_URL?.trim();
  assert.ok(baseUrl, "a cluster needs DATABASE_URL");
  const llm = await startFakeLlm();
  const sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
  const dir = await sandbox.createCodebase("app1");
  const database = await createPostgresDatabase(baseUrl);
  const port = await freePort();
  const serverEnv = {
    DATABASE_URL: database.url,
    CODETETHER_API_KEY: apiKey,
    CODETETHER_WORKER_TOKEN: workerToken,
    CODETETHER_TASK_LEASE_SECONDS: String(options.leaseSeconds ?? 3),
    CODETETHER_LOCAL_CONCURRENCY: "0",
    ANTHROPIC_API_KEY: providerKey,
    // Agents run on the workers; the server starts no OpenCode (one would run with this machine's own home).
    OPENCODE_AUTO_START: "false",
    OPENCODE_PORT: "9",
  };
  const workers = new Map<string, WorkerProcess>();
  const opencodePorts = new Set<number>();

  const cluster: Cluster = {
    llm,
    sandbox,
    dir,
    codebaseId: "",
    server: await startServerProcess(port, serverEnv),
    databaseUrl: database.url,
    workers,
    async api(method, path, body, token = apiKey) {
      const res = await fetch(`${cluster.server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    task: (id) => cluster.api("GET", `/v1/opencode/tasks/${id}`).then((r) => r.body),
    finished: (id, timeoutMs = 120_000) =>
      eventually(
        async () => {
          const t = await cluster.task(id);
          return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
        },
        timeoutMs,
        `task ${id} to finish`,
      ),
    async spawnWorker(name, { codebases = [`app1:${dir}`], flags = options.workerFlags ?? [] } = {}) {
      const opencodePort = await freePort();
      opencodePorts.add(opencodePort);
      const args = ["--server", cluster.server.url, "--name", name, "--token", workerToken, ...codebases.flatMap((c) => ["--codebase", c]), ...flags];
      const w = startWorker(args, { ...(await sandbox.machineEnv(name)), ANTHROPIC_API_KEY: providerKey }, opencodePort);
      workers.set(name, w);
      return w;
    },
    online: (names) =>
      eventually(
        async () => {
          const list = (await cluster.api("GET", "/v1/opencode/workers")).body as { name: string; status: string }[];
          return names.every((n) => list.some((w) => w.name === n && w.status === "online")) ? true : undefined;
        },
        60_000,
        `${names.join(", ")} online`,
      ).then(() => {}),
    async killWorker(name) {
      const w = workers.get(name)!;
      w.child.kill("SIGKILL");
      await w.exited;
      killOpencodeOn(w.opencodePort);
    },
    async restartServer(pauseMs = 1500) {
      cluster.server.child.kill("SIGKILL");
      await cluster.server.exited;
      await new Promise((r) => setTimeout(r, pauseMs));
      cluster.server = await startServerProcess(port, serverEnv);
    },
    async readStream(stop, codebaseId = cluster.codebaseId) {
      const sse = await connectSse(`${cluster.server.url}/v1/opencode/codebases/${codebaseId}/events?last_event_id=0`, { authorization: `Bearer ${apiKey}` });
      try {
        for (let n = 1; ; n++) {
          const all = await sse.waitFor(n);
          const last = all[n - 1]!;
          const event = { id: Number(last.id), type: last.event!, data: JSON.parse(last.data) };
          if (stop(event)) return all.map((e) => ({ id: Number(e.id), type: e.event!, data: JSON.parse(e.data) }));
        }
      } finally {
        sse.close();
      }
    },
    async close() {
      for (const w of workers.values()) w.child.kill("SIGKILL");
      for (const p of opencodePorts) killOpencodeOn(p);
      cluster.server.child.kill("SIGKILL");
      await cluster.server.exited;
      await database.drop();
      await llm.close();
      await sandbox.cleanup();
    },
  };
  // Registered by a client, with no worker: any worker that has "app1" may run its tasks.
  const cb = await cluster.api("POST", "/v1/opencode/codebases", {
    name: "app1",
    path: dir,
    ...(options.isolation ? { agent_config: { isolation: options.isolation } } : {}),
  });
  assert.equal(cb.status, 201, JSON.stringify(cb.body));
  cluster.codebaseId = cb.body.id;
  for (const name of options.workers) await cluster.spawnWorker(name);
  await cluster.online(options.workers);
  return cluster;
}
