/** Workers: registration, liveness, and the list clients see. */
import { randomUUID } from "node:crypto";
import { and, asc, count, eq, gt, isNull, lt, sql } from "drizzle-orm";
import { notFound } from "../../contracts/errors.js";
import type { RunnerModels } from "../../contracts/models.js";
import { codebases, tasks, workers } from "../../db/schema.js";
import { assertSpeaksFor } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import { enqueueWebhooks } from "../webhooks/outbox.js";
import type { RegisterWorkerRequest, Worker } from "./tasks.types.js";

/** A worker not heard from for this long shows as offline. */
const offlineAfterMs = 30_000;

type Row = typeof workers.$inferSelect;

function toWorker(row: Row, running: number): Worker {
  return {
    name: row.name,
    codebases: row.codebases,
    concurrency: row.concurrency,
    status: isOnline(row) ? "online" : "offline",
    draining: row.draining,
    last_heartbeat_at: row.lastHeartbeatAt?.toISOString() ?? null,
    running_tasks: running,
    models: row.models ? row.models.models.map((m) => m.id) : null,
    created_at: row.createdAt.toISOString(),
  };
}

/** Registers (or re-registers, after a restart) a worker with the codebases it has. */
export async function registerWorker({ ctx, input }: { ctx: ServiceContext; input: RegisterWorkerRequest }): Promise<Worker> {
  assertSpeaksFor(ctx, input.name);
  const values = {
    codebases: input.codebases,
    concurrency: input.concurrency ?? 1,
    lastHeartbeatAt: new Date(),
    offlineNotifiedAt: null,
    draining: false,
    ...(input.models ? { models: input.models } : {}),
  };
  const [row] = await ctx.database.db
    .insert(workers)
    .values({ id: randomUUID(), name: input.name, ...values })
    .onConflictDoUpdate({ target: workers.name, set: values })
    .returning();
  // Codebases the server does not know yet become this worker's, so tasks can be queued for them at once.
  if (input.codebases.length > 0) {
    await ctx.database.db
      .insert(codebases)
      .values(input.codebases.map((c) => ({ id: randomUUID(), name: c.name, path: c.path, workerId: input.name })))
      .onConflictDoNothing({ target: codebases.name });
  }
  ctx.log.info(
    { worker: input.name, codebases: input.codebases.map((c) => c.name), concurrency: values.concurrency, models: input.models?.models.length },
    "worker registered",
  );
  return toWorker(row!, await runningCount(ctx, input.name));
}

/**
 * Logs workers that went quiet (offline) or came back since the last call, given the
 * names that were online then; answers the names online now. Called by the sweeper.
 */
export async function noticeWorkerPresence({ ctx, wasOnline }: { ctx: ServiceContext; wasOnline: ReadonlySet<string> | undefined }): Promise<Set<string>> {
  const rows = await ctx.database.db.select({ name: workers.name }).from(workers).where(heardFromLately());
  const online = new Set(rows.map((r) => r.name));
  if (wasOnline) {
    for (const name of wasOnline) if (!online.has(name)) ctx.log.warn({ worker: name, silent_for_s: offlineAfterMs / 1000 }, "worker offline");
    for (const name of online) if (!wasOnline.has(name)) ctx.log.info({ worker: name }, "worker online");
  }
  return online;
}

/**
 * Announces (worker.offline webhooks) each worker that went quiet, once until it is heard from again: the
 * row's `offline_notified_at` is set in the same transaction as the deliveries, so one process announces it.
 */
export async function announceOfflineWorkers({ ctx }: { ctx: ServiceContext }): Promise<number> {
  return ctx.database.db.transaction(async (tx) => {
    const gone = await tx
      .update(workers)
      .set({ offlineNotifiedAt: new Date() })
      .where(and(isNull(workers.offlineNotifiedAt), lt(workers.lastHeartbeatAt, new Date(Date.now() - offlineAfterMs))))
      .returning();
    await enqueueWebhooks(
      tx,
      gone.map((w) => ({
        type: "worker.offline" as const,
        codebaseId: null,
        data: {
          worker: w.name,
          last_heartbeat_at: w.lastHeartbeatAt?.toISOString() ?? null,
          codebases: w.codebases.map((c) => c.name),
          links: { workers: "/v1/opencode/workers" },
        },
      })),
    );
    return gone.length;
  });
}

/** Marks the worker alive; `draining` says it takes no new work, `models` what it can run now. */
export async function touchWorker({
  ctx,
  name,
  report = {},
}: {
  ctx: ServiceContext;
  name: string;
  report?: { draining?: boolean; models?: RunnerModels };
}): Promise<Row> {
  assertSpeaksFor(ctx, name);
  const { draining, models } = report;
  const [row] = await ctx.database.db
    .update(workers)
    .set({ lastHeartbeatAt: new Date(), offlineNotifiedAt: null, ...(draining === undefined ? {} : { draining }), ...(models ? { models } : {}) })
    .where(eq(workers.name, name))
    .returning();
  if (!row) throw notFound("Worker (register it first)");
  return row;
}

/** Workers online now (for the metrics gauge). */
export async function countOnlineWorkers({ ctx }: { ctx: ServiceContext }): Promise<number> {
  const [row] = await ctx.database.db.select({ n: count() }).from(workers).where(heardFromLately());
  return Number(row?.n ?? 0);
}

/** Heard from within `offlineAfterMs`: the database side of `isOnline`. */
const heardFromLately = () => gt(workers.lastHeartbeatAt, new Date(Date.now() - offlineAfterMs));

/**
 * True when the worker was heard from within `withinMs` and since any lease of
 * its last lapsed: a worker frozen mid-wait (SIGSTOP, a paused VM) keeps its claim
 * request open, but it must not take new work until it shows a sign of life.
 */
export async function workerHeardFrom(ctx: ServiceContext, name: string, withinMs: number): Promise<boolean> {
  const [row] = await ctx.database.db.select({ at: workers.lastHeartbeatAt, lapsed: workers.leaseLapsedAt }).from(workers).where(eq(workers.name, name));
  const at = row?.at?.getTime() ?? 0;
  return Date.now() - at <= withinMs && (!row?.lapsed || at > row.lapsed.getTime());
}

/** Online: heard from within `offlineAfterMs`. */
export function isOnline(row: Row): boolean {
  return Date.now() - (row.lastHeartbeatAt?.getTime() ?? 0) < offlineAfterMs;
}

async function runningCount(ctx: ServiceContext, name: string): Promise<number> {
  const [row] = await ctx.database.db
    .select({ n: count() })
    .from(tasks)
    .where(and(eq(tasks.workerId, name), eq(tasks.status, "running")));
  return row?.n ?? 0;
}

export async function listWorkers({ ctx }: { ctx: ServiceContext }): Promise<Worker[]> {
  const rows = await ctx.database.db.select().from(workers).orderBy(asc(workers.name));
  const counts = await ctx.database.db
    .select({ name: tasks.workerId, n: count() })
    .from(tasks)
    .where(sql`${tasks.status} = 'running' and ${tasks.workerId} is not null`)
    .groupBy(tasks.workerId);
  const running = new Map(counts.map((c) => [c.name, c.n]));
  return rows.map((r) => toWorker(r, running.get(r.name) ?? 0));
}
