/** Task verbs for clients: create, list, read, cancel, retry. The runner side is in claims.ts, leases.ts, reports.ts and completions.ts. */
import { randomUUID } from "node:crypto";
import { and, count, eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { conflict, notFound } from "../../contracts/errors.js";
import { defaultAgent } from "../../contracts/fields.js";
import type { RunnerModels } from "../../contracts/models.js";
import { tableRow } from "../../db/client.js";
import { runCompiled, value } from "../../db/compiled.js";
import { tasks, urgentFirst, workers } from "../../db/schema.js";
import { auditCte, auditValue, recordAudit } from "../access/audit.js";
import { assertInScope, createdBy, inCodebaseScope } from "../access/scope.js";
import { getCodebaseRow } from "../codebases/codebases.js";
import type { ServiceContext } from "../context.js";
import { requireRunnable } from "../models/models.js";
import { cutPage, decodeCursor, defaultPageItems, ExactTime, exactTime, type Page, searchQuery } from "../paging.js";
import { noUsage, usageOf } from "../usage/usage.js";
import type { Usage } from "../usage/usage.types.js";
import { summariesByTask } from "../worktrees/records.js";
import type { WorktreeSummary } from "../worktrees/worktrees.types.js";
import { taskRunnableHint } from "./task-wake.js";
import { type CreateTaskRequest, type CreateTasksRequest, defaultMaxAttempts, type ListTasksQuery, type RetryTaskRequest, type Task } from "./tasks.types.js";
import { isOnline } from "./workers.js";

export type TaskRow = typeof tasks.$inferSelect;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toTask(row: TaskRow, usage?: Usage, worktree?: WorktreeSummary | null): Task {
  return {
    id: row.id,
    codebase_id: row.codebaseId,
    title: row.title,
    prompt: row.prompt,
    agent_type: row.agentType,
    model: row.model,
    priority: row.priority,
    status: row.status as Task["status"],
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    worker_id: row.workerId,
    session_id: row.sessionId,
    result: row.result,
    error: row.error,
    attempt_errors: row.attemptErrors,
    cancel_requested: row.cancelRequested,
    kind: row.kind as Task["kind"],
    base_ref: row.baseRef,
    ...(worktree !== undefined ? { worktree } : {}),
    ...(usage ? { usage } : {}),
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    started_at: iso(row.startedAt),
    completed_at: iso(row.completedAt),
    updated_at: row.updatedAt.toISOString(),
  };
}

/**
 * What could run a task of this codebase: its own worker, or the server's runner
 * and the online workers that have a codebase of that name.
 */
async function runnersFor(ctx: ServiceContext, codebase: { name: string; workerId: string | null }): Promise<(RunnerModels | null)[]> {
  const rows = await ctx.database.db.select().from(workers);
  if (codebase.workerId) {
    const owner = rows.find((w) => w.name === codebase.workerId);
    return owner ? [owner.models] : [];
  }
  const remote = rows.filter((w) => isOnline(w) && w.codebases.some((c) => c.name === codebase.name)).map((w) => w.models);
  const local = ctx.config.localConcurrency > 0 ? [await ctx.bridge.models.get()] : [];
  return [...local, ...remote];
}

export async function createTask({ ctx, codebaseId, input }: { ctx: ServiceContext; codebaseId: string; input: CreateTaskRequest }): Promise<Task> {
  const [task] = await createTasks({ ctx, codebaseId, input: { tasks: [input] } });
  return task!;
}

/**
 * Queues several tasks on one codebase (all or none), in one statement with their audit rows, answered in the order
 * given. A model a task will run (its own, or the codebase's default) must be one a runner of the codebase has: when
 * a task names one, the codebase is read and the models checked first; when none does, the statement itself reads
 * the codebase and inserts only if it has no default model either (one round trip, the usual case), and otherwise
 * the default is checked and the statement runs again.
 */
export async function createTasks({ ctx, codebaseId, input }: { ctx: ServiceContext; codebaseId: string; input: CreateTasksRequest }): Promise<Task[]> {
  assertInScope(ctx, codebaseId, "Codebase");
  const values = input.tasks.map((t, ord) => ({
    ord,
    id: randomUUID(),
    title: t.title,
    prompt: t.prompt,
    agent_type: t.agent_type ?? null,
    model: t.model ?? null,
    priority: t.priority ?? 0,
    max_attempts: t.max_attempts ?? defaultMaxAttempts,
    base_ref: t.base_ref ?? null,
  }));
  const audit = values.map((v) => ({ action: "task.create", targetType: "task", targetId: v.id, detail: { codebase_id: codebaseId, title: v.title } }));
  const insert = (modelsChecked: boolean) =>
    runCompiled<Record<string, unknown>>(ctx.database.db, {
      key: "tasks.create",
      build: createStatement,
      values: { codebaseId, createdBy: createdBy(ctx) ?? null, tasks: JSON.stringify(values), audit: auditValue(ctx, audit), modelsChecked },
    });
  let rows = input.tasks.some((t) => t.model) ? [] : await insert(false);
  if (rows.length === 0) {
    const codebase = await getCodebaseRow({ ctx, id: codebaseId });
    const config = codebase.agentConfig;
    const models = [...new Set(input.tasks.map((t) => t.model ?? config.default_model).filter((m): m is string => Boolean(m)))];
    if (models.length > 0) {
      const runners = await runnersFor(ctx, codebase);
      for (const model of models) requireRunnable(model, runners, `for codebase "${codebase.name}"`);
    }
    rows = await insert(true);
    // Deleted meanwhile.
    if (rows.length === 0) throw notFound("Codebase");
  }
  ctx.taskWake.wakeAll();
  ctx.localRunner.poke();
  const order = new Map<string, number>(values.map((v) => [v.id, v.ord]));
  return rows.map((raw) => toTask(tableRow(tasks, raw), noUsage, null)).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
}

/**
 * `createTasks`' statement: the tasks (each with the codebase's default agent and model where it names none) and
 * their audit rows, unless the models are not checked yet (`modelsChecked` false) and the codebase has a default
 * model (or there is no such codebase): it answers the tasks it inserted.
 */
const createStatement = () => sql`with cb as (select * from codebases where id = ${value("codebaseId")}), inserted as (
    insert into tasks (id, codebase_id, created_by, title, prompt, agent_type, model, priority, max_attempts, base_ref)
    select t.id, cb.id, ${value("createdBy")}::text, t.title, t.prompt, coalesce(t.agent_type, cb.agent_config->>'default_agent', ${sql.raw(`'${defaultAgent}'`)}),
      coalesce(t.model, cb.agent_config->>'default_model'), t.priority, t.max_attempts, t.base_ref
    from cb cross join jsonb_to_recordset(${value("tasks")}::jsonb)
      as t(ord int, id text, title text, prompt text, agent_type text, model text, priority int, max_attempts int, base_ref text)
    where ${value("modelsChecked")}::boolean or cb.agent_config->>'default_model' is null
    order by t.ord
    returning *, ${taskRunnableHint} as hint
  ), ${auditCte(sql`exists (select 1 from inserted)`)}
  select * from inserted`;

/** The key of a task's place in the list: priority, then exact creation time and id. */
const TaskKey = z.tuple([z.number().int(), ExactTime, z.string().max(200)]);

/** A page of tasks in the order runners take them (priority, then age), filtered; `q` searches title and prompt. */
export async function listTasks({ ctx, query }: { ctx: ServiceContext; query: ListTasksQuery }): Promise<Page<Task>> {
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, TaskKey);
  const words = searchQuery(query.q);
  const where: (SQL | undefined)[] = [];
  if (query.status) where.push(eq(tasks.status, query.status));
  if (query.codebase_id) where.push(eq(tasks.codebaseId, query.codebase_id));
  where.push(inCodebaseScope(ctx, tasks.codebaseId));
  if (query.worker_id) where.push(eq(tasks.workerId, query.worker_id));
  if (words) where.push(sql`to_tsvector('simple', ${tasks.title} || ' ' || ${tasks.prompt}) @@ to_tsquery('simple', ${words})`);
  if (after) {
    const [priority, at, id] = after;
    where.push(sql`(${tasks.priority} < ${priority} or (${tasks.priority} = ${priority} and (${tasks.createdAt}, ${tasks.id}) > (${at}::timestamptz, ${id})))`);
  }
  const rows = await ctx.database.db
    .select({ row: tasks, at: exactTime(tasks.createdAt) })
    .from(tasks)
    .where(and(...where))
    .orderBy(...urgentFirst)
    .limit(limit + 1);
  const page = cutPage(
    rows,
    limit,
    (r) => r.row,
    (r) => [r.row.priority, r.at, r.row.id],
  );
  return { items: await tasksWithUsage(ctx, page.items), next_cursor: page.next_cursor };
}

/** How many tasks there are in each status (one grouped query; for the metrics gauge). */
export async function countTasksByStatus({ ctx }: { ctx: ServiceContext }): Promise<Record<string, number>> {
  const rows = await ctx.database.db.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function getTaskRow({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<TaskRow> {
  const [row] = await ctx.database.db.select().from(tasks).where(eq(tasks.id, id));
  if (!row) throw notFound("Task");
  assertInScope(ctx, row.codebaseId, "Task");
  return row;
}

export async function getTask({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<Task> {
  return (await tasksWithUsage(ctx, [await getTaskRow({ ctx, id })]))[0]!;
}

/** Tasks as clients read them: with what all their attempts spent (one query for all). */
async function tasksWithUsage(ctx: ServiceContext, rows: TaskRow[]): Promise<Task[]> {
  const ids = rows.map((r) => r.id);
  const [usage, worktrees] = await Promise.all([usageOf(ctx, "task", ids), summariesByTask(ctx, ids)]);
  return rows.map((r) => toTask(r, usage.get(r.id) ?? noUsage, worktrees.get(r.id) ?? null));
}

/**
 * A pending task is cancelled at once. A running one is flagged; its runner
 * learns it from its next heartbeat, aborts the agent and reports `cancelled`.
 */
export async function cancelTask({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<Task> {
  const row = await ctx.events.transaction(async (tx, append) => {
    const [current] = await tx.select().from(tasks).where(eq(tasks.id, id)).for("update");
    if (!current) throw notFound("Task");
    assertInScope(ctx, current.codebaseId, "Task");
    await recordAudit(tx, ctx, { action: "task.cancel", targetType: "task", targetId: id, detail: { status: current.status } });
    if (current.status === "pending") {
      const [row] = await tx
        .update(tasks)
        .set({ status: "cancelled", error: "Cancelled before it ran", completedAt: new Date(), updatedAt: new Date() })
        .where(eq(tasks.id, id))
        .returning();
      await append(current.codebaseId, [{ type: "complete", data: { session_id: null, status: "cancelled", task_id: id }, taskId: id }]);
      return row!;
    }
    if (current.status === "running") {
      if (current.cancelRequested) return current;
      const [row] = await tx.update(tasks).set({ cancelRequested: true, updatedAt: new Date() }).where(eq(tasks.id, id)).returning();
      await append(current.codebaseId, [{ type: "status", data: { session_id: current.sessionId, status: "cancelling", task_id: id }, taskId: id }]);
      return row!;
    }
    throw conflict(`Task is already ${current.status}`);
  });
  if (row.status === "running") ctx.localRunner.cancel(row.id);
  return (await tasksWithUsage(ctx, [row]))[0]!;
}

/**
 * Runs a failed or cancelled task again, as a new attempt: it is pending at once
 * with `attempts` more tries, and its attempt numbers go on (so the events of every
 * attempt stay apart, and its history reads as one). A new run starts a new session.
 */
export async function retryTask({ ctx, id, input = {} }: { ctx: ServiceContext; id: string; input?: RetryTaskRequest }): Promise<Task> {
  const row = await ctx.events.transaction(async (tx, append) => {
    const [current] = await tx.select().from(tasks).where(eq(tasks.id, id)).for("update");
    if (!current) throw notFound("Task");
    assertInScope(ctx, current.codebaseId, "Task");
    await recordAudit(tx, ctx, { action: "task.retry", targetType: "task", targetId: id, detail: { ...input } });
    if (current.status !== "failed" && current.status !== "cancelled") {
      throw conflict(`Only a failed or cancelled task can be retried; this one is ${current.status}`);
    }
    const [row] = await tx
      .update(tasks)
      .set({
        status: "pending",
        maxAttempts: current.attempts + (input.attempts ?? defaultMaxAttempts),
        cancelRequested: false,
        workerId: null,
        leaseToken: null,
        leaseExpiresAt: null,
        runAfter: sql`now()`,
        sessionId: null,
        uploadedThrough: 0,
        result: null,
        error: null,
        startedAt: null,
        completedAt: null,
        updatedAt: new Date(),
      })
      .where(eq(tasks.id, id))
      .returning({ ...getTableColumns(tasks), hint: taskRunnableHint });
    await append(current.codebaseId, [
      {
        type: "status",
        data: { session_id: null, status: "retried", task_id: id, attempt: current.attempts, message: `Retried after it ${current.status}` },
        taskId: id,
      },
    ]);
    return row!;
  });
  ctx.taskWake.wakeAll();
  ctx.localRunner.poke();
  return (await tasksWithUsage(ctx, [row]))[0]!;
}
