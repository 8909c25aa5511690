/**
 * Leases: every report of a runner quotes the lease token its claim returned, and
 * one from a lease that is no longer current is refused (409, `lease_lost`), so a
 * runner that froze and woke up late cannot touch a task that has moved on.
 * Heartbeats extend a lease, a runner hands a task back, and the sweeper takes back
 * the tasks whose lease lapsed.
 */
import { and, eq, getTableColumns, inArray, lt, type Placeholder, sql } from "drizzle-orm";
import { leaseLost, notFound } from "../../contracts/errors.js";
import type { NewEvent } from "../../contracts/events.js";
import type { Db } from "../../db/client.js";
import { tasks, workers } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { endTaskSession } from "./attempt-session.js";
import { taskRunnableHint } from "./task-wake.js";
import { type TaskRow, toTask } from "./tasks.js";
import { localRunnerName, type Task } from "./tasks.types.js";

export const localWorkerId = localRunnerName;

/** When a lease taken now ends: `seconds` is a value, or a compiled statement's placeholder for one. */
export const leaseEnd = (seconds: number | Placeholder) => sql`now() + make_interval(secs => ${seconds})`;

/** Locks the task and checks the caller still holds its lease. */
export async function lockLeased(tx: Db, taskId: string, token: string): Promise<TaskRow> {
  const [row] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for("update");
  if (!row) throw notFound("Task");
  if (row.status !== "running" || row.leaseToken !== token) throw leaseLost();
  return row;
}

/** Extends the lease; the answer says whether the task was cancelled meanwhile. */
export async function heartbeatTask({
  ctx,
  taskId,
  token,
}: {
  ctx: ServiceContext;
  taskId: string;
  token: string;
}): Promise<{ cancel_requested: boolean; lease_seconds: number }> {
  const lease = ctx.config.leaseSeconds;
  const [row] = await ctx.database.db
    .update(tasks)
    .set({ leaseExpiresAt: leaseEnd(lease) })
    .where(and(eq(tasks.id, taskId), eq(tasks.status, "running"), eq(tasks.leaseToken, token)))
    .returning({ cancelRequested: tasks.cancelRequested });
  if (!row) {
    const [exists] = await ctx.database.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.id, taskId));
    throw exists ? leaseLost() : notFound("Task");
  }
  return { cancel_requested: row.cancelRequested, lease_seconds: lease };
}

/** A runner hands a task back (it is shutting down): it runs again at once, and this attempt does not count. */
export async function releaseTask({ ctx, taskId, token, reason }: { ctx: ServiceContext; taskId: string; token: string; reason: string }): Promise<Task> {
  const { row } = await ctx.events.transaction(async (tx, append) => {
    const current = await lockLeased(tx, taskId, token);
    const [row] = await tx
      .update(tasks)
      .set({
        status: "pending",
        attempts: sql`greatest(${tasks.attempts} - 1, 0)`,
        leaseToken: null,
        leaseExpiresAt: null,
        runAfter: sql`now()`,
        // The next run starts a session of its own.
        sessionId: null,
        updatedAt: new Date(),
      })
      .where(eq(tasks.id, taskId))
      .returning({ ...getTableColumns(tasks), hint: taskRunnableHint });
    await endTaskSession(tx, taskId, "aborted", `Handed back: ${reason}`);
    await append(current.codebaseId, [
      { type: "status", data: { session_id: current.sessionId, status: "released", task_id: taskId, message: reason }, taskId },
    ]);
    return { row: row! };
  });
  ctx.taskWake.wakeAll();
  return toTask(row);
}

/**
 * Takes back tasks whose lease lapsed: pending again after a backoff (1 s, 2 s,
 * 4 s, ... up to 60 s), or failed with the reason once the attempts are used up.
 */
export async function sweepExpiredLeases({ ctx }: { ctx: ServiceContext }): Promise<number> {
  const expired = await ctx.events.transaction(async (tx, append) => {
    const rows = await tx
      .select()
      .from(tasks)
      .where(and(eq(tasks.status, "running"), lt(tasks.leaseExpiresAt, sql`now()`)))
      .limit(100)
      .for("update", { skipLocked: true });
    const out: { row: TaskRow; workerId: string | null }[] = [];
    for (const current of rows) {
      const reason = `lease expired on ${current.workerId ?? "unknown runner"} (attempt ${current.attempts})`;
      const exhausted = current.attempts >= current.maxAttempts;
      const entry = { attempt: current.attempts, worker_id: current.workerId, reason: "lease_expired", at: new Date().toISOString() };
      const [row] = await tx
        .update(tasks)
        .set({
          status: exhausted ? "failed" : "pending",
          leaseToken: exhausted ? current.leaseToken : null,
          leaseExpiresAt: null,
          runAfter: sql`now() + make_interval(secs => least(power(2, ${current.attempts} - 1), 60))`,
          attemptErrors: sql`${tasks.attemptErrors} || ${JSON.stringify([entry])}::jsonb`,
          error: exhausted ? `Gave up after ${current.attempts} attempts: ${reason}` : current.error,
          completedAt: exhausted ? new Date() : null,
          // A requeued task's next run starts a session of its own; a failed one keeps its last.
          ...(exhausted ? {} : { sessionId: null }),
          updatedAt: new Date(),
        })
        .where(eq(tasks.id, current.id))
        .returning();
      await endTaskSession(tx, current.id, "failed", `The attempt was lost: ${reason}`);
      const events: NewEvent[] = [
        {
          type: "status",
          data: { session_id: current.sessionId, status: exhausted ? "failed" : "requeued", task_id: current.id, attempt: current.attempts, message: reason },
          taskId: current.id,
        },
      ];
      if (exhausted)
        events.push({
          type: "complete",
          data: { session_id: current.sessionId, status: "failed", task_id: current.id, error: row!.error! },
          taskId: current.id,
        });
      await append(current.codebaseId, events);
      out.push({ row: row!, workerId: current.workerId });
    }
    return out;
  });
  ctx.metrics.leaseExpiries.inc(expired.length);
  const silent = [...new Set(expired.map((e) => e.workerId).filter((w): w is string => w !== null && w !== localWorkerId))];
  if (silent.length > 0) await ctx.database.db.update(workers).set({ leaseLapsedAt: new Date() }).where(inArray(workers.name, silent));
  return expired.length;
}
