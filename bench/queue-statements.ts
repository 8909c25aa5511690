/**
 * What each call of the queue costs Postgres, apart from contention: `calls` creates one after another, then as many
 * claims, then as many completions, over HTTP, each block timed by the CPU every Postgres process of this machine
 * used (`/proc/<pid>/stat`), per call. Our server against the durable floor (one statement per call) in the same run;
 * Postgres must be on this machine, and anything else it does in the meantime counts too (so: medians of rounds).
 */
import { postgresDriver } from "../test/support/db.js";
import { startQueueServer } from "./queue.js";
import { cpuMs } from "./stats.js";

export interface StatementCpu {
  create: number;
  claim: number;
  complete: number;
}

/** Postgres CPU per create, claim and completion (ms) of our server (of the checkout at `root`), or of the durable floor. */
export async function benchStatementCpu(url: string, target: { kind: "server"; root?: string } | { kind: "floor" }, calls = 1500): Promise<StatementCpu> {
  const server = await startQueueServer(
    target.kind === "server" ? { kind: "server", driver: postgresDriver(url), root: target.root } : { kind: "floor", databaseUrl: url },
  );
  const post = async (p: string, body: unknown) => (await server.post(p, body))!;
  const perCall = async (call: (i: number) => Promise<unknown>) => {
    const before = await cpuMs("postgres");
    for (let i = 0; i < calls; i++) await call(i);
    return ((await cpuMs("postgres")) - before) / calls;
  };
  try {
    const codebase = await post("/v1/opencode/codebases", { name: "bench", path: server.dir });
    await post("/v1/opencode/worker/register", { name: "bench-0", codebases: [{ name: "bench", path: server.dir }] });
    const claims: { task: { id: string }; lease_token: string }[] = [];
    const create = await perCall((i) => post(`/v1/opencode/codebases/${codebase.id}/tasks`, { title: `t${i}`, prompt: "p", priority: i % 5 }));
    const claim = await perCall(async () => claims.push((await post("/v1/opencode/worker/claim", { name: "bench-0" })) as (typeof claims)[number]));
    const complete = await perCall((i) =>
      post(`/v1/opencode/worker/tasks/${claims[i]!.task.id}/complete`, { lease_token: claims[i]!.lease_token, status: "completed", result: "ok" }),
    );
    return { create, claim, complete };
  } finally {
    await server.close();
  }
}
