/**
 * The runner side of the queue: claim, heartbeat, upload events, complete,
 * release, and the sweeper that takes back lapsed leases. Every report quotes the
 * lease token its claim returned; a report from a lease that is no longer current
 * is refused (409), so a runner that froze and woke up late cannot touch a task
 * that has moved on. Reports are idempotent: a retry changes nothing.
 */
import { and, asc, count, desc, eq, getTableColumns, inArray, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { Config } from "../../config.js";
import { conflict, invalid, notFound, ServiceError } from "../../contracts/errors.js";
import { type EventType, eventSchemas, type NewEvent } from "../../contracts/events.js";
import type { Db } from "../../db/client.js";
import type { AgentConfigColumn } from "../../db/schema.js";
import { codebases, messages, sessions, tasks, workers } from "../../db/schema.js";
import type { OcMessage } from "../../opencode/client.js";
import { runBudgetUsd } from "../../opencode/run-settings.js";
import type { ServiceContext } from "../context.js";
import { candidateCodebase, inFlightSql, runLimitSql } from "../sessions/in-flight.js";
import { upsertMessages } from "../sessions/session-store.js";
import { taskRunnableHint } from "./task-wake.js";
import { type TaskRow, toTask } from "./tasks.js";
import {
  type Claim,
  type Claimant,
  type CompleteTaskRequest,
  localRunnerName,
  type Task,
  type UploadEventsRequest,
  type UploadMessagesRequest,
} from "./tasks.types.js";

/** The codebase's agent settings as a runner gets them: `max_cost_usd` is the budget in force, the server's cap included. */
function withBudget(agentConfig: AgentConfigColumn, config: Config): Record<string, unknown> {
  const budget = runBudgetUsd(agentConfig, config);
  return budget === undefined ? agentConfig : { ...agentConfig, max_cost_usd: budget };
}

export const localWorkerId = localRunnerName;
const leaseLost = () => new ServiceError("CONFLICT", "lease lost: this task was reassigned or finished; stop working on it");

const leaseEnd = (seconds: number) => sql`now() + make_interval(secs => ${seconds})`;

function routing(claimant: Claimant): SQL {
  const models = claimant.models === null ? undefined : or(isNull(tasks.model), inArray(tasks.model, claimant.models));
  // Work on a run's worktree goes only to the runner that holds it (the server does its own at once).
  if (claimant.kind === "local") return and(isNull(codebases.workerId), isNull(tasks.runnerPin), models)!;
  const mine = eq(codebases.workerId, claimant.name);
  const where = claimant.codebaseNames.length === 0 ? mine : or(mine, and(isNull(codebases.workerId), inArray(codebases.name, claimant.codebaseNames)))!;
  return and(where, or(isNull(tasks.runnerPin), eq(tasks.runnerPin, claimant.name)), models)!;
}

/** An agent task waits while its codebase has as many runs in flight as it allows (agent_config.max_concurrent_runs, when set). */
const withinRunLimit = sql`(${tasks.kind} <> 'agent' or ${runLimitSql} is null or ${inFlightSql(candidateCodebase)} < ${runLimitSql})`;

/**
 * Takes the most urgent runnable task this claimant may run, in one statement
 * (`FOR UPDATE SKIP LOCKED`), and leases it. Null when there is none.
 */
export async function claimTask(ctx: ServiceContext, claimant: Claimant): Promise<Claim | null> {
  const [claim] = await claimTasks(ctx, claimant, 1);
  return claim ?? null;
}

/**
 * Takes up to `max` of the most urgent runnable tasks this claimant may run, in one
 * statement (`FOR UPDATE SKIP LOCKED`, so two claimants never take the same task),
 * each leased with a token of its own; their `claimed` events commit with them.
 */
export async function claimTasks(ctx: ServiceContext, claimant: Claimant, max: number): Promise<Claim[]> {
  const lease = ctx.config.leaseSeconds;
  const db = ctx.database.db;
  const candidates = db
    .select({ id: tasks.id })
    .from(tasks)
    .innerJoin(codebases, eq(codebases.id, tasks.codebaseId))
    .where(and(eq(tasks.status, "pending"), sql`${tasks.runAfter} <= now()`, routing(claimant), withinRunLimit))
    .orderBy(desc(tasks.priority), asc(tasks.createdAt), asc(tasks.id))
    .limit(max)
    .for("update", { of: tasks, skipLocked: true });
  const workerId = claimant.kind === "local" ? localWorkerId : claimant.name;
  // One transaction, one commit: the leases and the `claimed` events exist together or not at all.
  const claimed = await ctx.events.transaction(async (tx, append) => {
    const rows = await tx
      .update(tasks)
      .set({
        status: "running",
        attempts: sql`${tasks.attempts} + 1`,
        claims: sql`${tasks.claims} + 1`,
        uploadedThrough: 0,
        workerId,
        leaseToken: sql`gen_random_uuid()::text`,
        leaseExpiresAt: leaseEnd(lease),
        startedAt: sql`coalesce(${tasks.startedAt}, now())`,
        updatedAt: new Date(),
      })
      // ARRAY(subquery) runs once (an InitPlan); a bare `IN (subquery)` may be re-run per row and claim more.
      .where(and(sql`${tasks.id} = any(array(${candidates}))`, eq(tasks.status, "pending")))
      .returning();
    if (rows.length === 0) return null;
    rows.sort((a, b) => b.priority - a.priority || a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
    const codebaseRows = await tx
      .select()
      .from(codebases)
      .where(inArray(codebases.id, [...new Set(rows.map((r) => r.codebaseId))]));
    for (const codebaseId of new Set(rows.map((r) => r.codebaseId))) {
      const events = rows
        .filter((r) => r.codebaseId === codebaseId)
        .map(
          (row): NewEvent => ({
            type: "status",
            data: { session_id: null, status: "claimed", task_id: row.id, attempt: row.attempts, message: `Attempt ${row.attempts} on ${workerId}` },
            taskId: row.id,
          }),
        );
      await append(codebaseId, events);
    }
    return { rows, codebases: new Map(codebaseRows.map((c) => [c.id, c])) };
  });
  if (!claimed) return [];
  return claimed.rows.map((row) => {
    ctx.metrics.claimWait.observe(Math.max(0, Date.now() - row.runAfter.getTime()) / 1000);
    const codebase = claimed.codebases.get(row.codebaseId)!;
    return {
      task: toTask(row),
      codebase: { id: codebase.id, name: codebase.name, path: codebase.path, agent_config: withBudget(codebase.agentConfig, ctx.config) },
      attempt: row.attempts,
      lease_token: row.leaseToken!,
      lease_seconds: lease,
      diff_max_bytes: ctx.config.worktrees.diffMaxBytes,
      action: row.action ?? null,
    };
  });
}

/**
 * `claimTasks`, waiting up to `waitMs` for work when there is none: woken by the
 * task hint (see task-wake.ts), looking again each second regardless. Answers
 * nothing when the wait ends, the caller goes away (`signal`) or the server stops.
 */
export async function claimTasksWaiting(
  ctx: ServiceContext,
  claimant: Claimant,
  max: number,
  waitMs: number,
  signal?: AbortSignal,
  /** Asked before each try after the first: false ends the wait (the claimant stopped showing signs of life). */
  stillThere?: () => Promise<boolean>,
): Promise<Claim[]> {
  const deadline = Date.now() + waitMs;
  const stop = signal ? AbortSignal.any([signal, ctx.shutdown]) : ctx.shutdown;
  const end = ctx.taskWake.begin();
  try {
    for (let tries = 0; ; tries++) {
      if (tries > 0 && stillThere && !(await stillThere())) return [];
      const mark = ctx.taskWake.mark();
      const claims = await claimTasks(ctx, claimant, max);
      if (claims.length > 0) return claims;
      const left = deadline - Date.now();
      if (left <= 0 || stop.aborted) return [];
      await ctx.taskWake.wait(mark, Math.min(left, recheckMs), stop);
    }
  } finally {
    end();
  }
}

/** How often a waiting claim looks again without a hint (a lost hint, a backoff running out). */
const recheckMs = 1000;

/** Locks the task and checks the caller still holds its lease. */
/** The `run_owner` of a session a task's runner is running (its liveness is the task's lease). */
export const taskOwner = (taskId: string) => `task:${taskId}`;

/** Ends the session of a task's attempt that did not complete (lost, handed back), if it is still marked running. */
async function endTaskSession(tx: Db, taskId: string, status: "failed" | "aborted", error: string): Promise<void> {
  await tx
    .update(sessions)
    .set({ status, error, runOwner: null, runHeartbeatAt: null, updatedAt: new Date() })
    .where(and(eq(sessions.runOwner, taskOwner(taskId)), eq(sessions.status, "running")));
}

export async function lockLeased(tx: Db, taskId: string, token: string): Promise<TaskRow> {
  const [row] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for("update");
  if (!row) throw notFound("Task");
  if (row.status !== "running" || row.leaseToken !== token) throw leaseLost();
  return row;
}

/** Extends the lease; the answer says whether the task was cancelled meanwhile. */
export async function heartbeatTask(ctx: ServiceContext, taskId: string, token: string): Promise<{ cancel_requested: boolean; lease_seconds: number }> {
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

const uploadable = new Set<EventType>(["status", "output", "reasoning", "tool_use", "file_change", "permission", "usage", "error", "diff"]);

/**
 * Stores a batch of a runner's events for its current attempt, skipping any it
 * already sent, and answers the highest sequence number stored so far.
 */
export async function uploadTaskEvents(ctx: ServiceContext, taskId: string, input: UploadEventsRequest): Promise<{ acked_through: number; stored: number }> {
  const events: NewEvent[] = input.events.map((e, i) => {
    if (!uploadable.has(e.type as EventType)) throw invalid(`events.${i}.type: event type "${e.type}" cannot be uploaded`);
    const parsed = eventSchemas[e.type as EventType].safeParse(e.data);
    if (!parsed.success) {
      // Name each field, as every other 422 does: `events.3.data.content: Invalid input: expected string, ...`.
      const fields = parsed.error.issues.map((issue) => `events.${i}.data${issue.path.map((p) => `.${String(p)}`).join("")}: ${issue.message}`);
      throw invalid(`event ${e.seq} (${e.type}) does not match its schema: ${fields.join("; ")}`);
    }
    return { type: e.type, data: parsed.data, taskId, workerSeq: e.seq } as NewEvent;
  });
  const sessionId = events.find((e) => e.data.session_id)?.data.session_id ?? null;
  const through = events.reduce((high, e) => Math.max(high, e.workerSeq ?? 0), 0);
  // Three statements: the lease check that also locks the task, records the session and what is stored
  // (every event of the batch is, once this commits: fresh or already there), then the append.
  const { stored, acked } = await ctx.events.transaction(async (tx, append) => {
    const [row] = await tx
      .update(tasks)
      .set({ uploadedThrough: sql`greatest(${tasks.uploadedThrough}, ${through})`, sessionId: sql`coalesce(${tasks.sessionId}, ${sessionId})` })
      .where(and(eq(tasks.id, taskId), eq(tasks.status, "running"), eq(tasks.leaseToken, input.lease_token)))
      .returning({
        codebaseId: tasks.codebaseId,
        claims: tasks.claims,
        uploadedThrough: tasks.uploadedThrough,
        sessionId: tasks.sessionId,
        title: tasks.title,
        agentType: tasks.agentType,
        model: tasks.model,
        // Whose the attempt's session is, read in the same statement (no round trip in the steady state):
        // null when it has no row yet, "" when nobody runs it.
        sessionOwner: sql<string | null>`(select coalesce(s.run_owner, '') from sessions s where s.id = ${tasks.sessionId})`,
      });
    if (!row) {
      const [exists] = await tx.select({ id: tasks.id }).from(tasks).where(eq(tasks.id, taskId));
      throw exists ? leaseLost() : notFound("Task");
    }
    // An attempt runs one session: its events (and the usage they count) cannot name another.
    const other = events.find((e) => e.data.session_id && e.data.session_id !== row.sessionId);
    if (other) throw invalid(`events name session ${other.data.session_id}, but this attempt runs session ${row.sessionId}`);
    if (row.sessionId && row.sessionOwner === null) {
      // The attempt's first word of its session: it is listed (running, the task's) from now on.
      await tx
        .insert(sessions)
        .values({
          id: row.sessionId,
          codebaseId: row.codebaseId,
          title: row.title,
          agent: row.agentType,
          model: row.model,
          status: "running",
          runOwner: taskOwner(taskId),
        })
        .onConflictDoNothing();
    } else if (row.sessionId && row.sessionOwner !== taskOwner(taskId)) {
      throw conflict(`Session ${row.sessionId} is not this task's: an attempt runs a session of its own`);
    }
    const stored = await append(
      row.codebaseId,
      // Per claim, not per counted attempt: a run after a hand-back numbers its events from 1 again.
      events.map((e) => ({ ...e, attempt: row.claims })),
    );
    return { stored, acked: row.uploadedThrough };
  });
  return { acked_through: acked, stored: stored.filter(Boolean).length };
}

/**
 * Stores messages of the session a runner's attempt runs (new or changed since
 * its last upload), so the session's transcript can be read here while it runs
 * and after: the session's row is made if it is not there yet. Idempotent.
 */
export async function uploadTaskMessages(
  ctx: ServiceContext,
  taskId: string,
  input: UploadMessagesRequest,
): Promise<{ stored: number; message_count: number }> {
  const foreign = input.messages.find((m) => m.info.sessionID !== input.session_id);
  if (foreign) throw invalid(`message ${foreign.info.id} belongs to session ${foreign.info.sessionID}, not ${input.session_id}`);
  return ctx.database.db.transaction(async (tx) => {
    const current = await lockLeased(tx, taskId, input.lease_token);
    if (current.sessionId && current.sessionId !== input.session_id) {
      throw conflict(`This attempt runs session ${current.sessionId}, not ${input.session_id}`);
    }
    // Running while the task's lease holds: the task owns it (see run-liveness.ts), until it completes or is lost.
    await tx
      .insert(sessions)
      .values({
        id: input.session_id,
        codebaseId: current.codebaseId,
        title: current.title,
        agent: current.agentType,
        model: current.model,
        status: "running",
        runOwner: taskOwner(taskId),
      })
      .onConflictDoNothing();
    const [owner] = await tx.select({ runOwner: sessions.runOwner }).from(sessions).where(eq(sessions.id, input.session_id));
    if (owner?.runOwner !== taskOwner(taskId)) throw conflict(`Session ${input.session_id} is not this task's`);
    if (!current.sessionId) await tx.update(tasks).set({ sessionId: input.session_id }).where(eq(tasks.id, taskId));
    const list = input.messages as unknown as OcMessage[];
    const changed = await upsertMessages(tx, input.session_id, list);
    const [counted] = await tx.select({ n: count() }).from(messages).where(eq(messages.sessionId, input.session_id));
    const messageCount = Number(counted?.n ?? 0);
    await tx
      .update(sessions)
      .set({ messageCount, ...(changed ? { updatedAt: new Date() } : {}) })
      .where(eq(sessions.id, input.session_id));
    return { stored: changed ? list.length : 0, message_count: messageCount };
  });
}

/**
 * Records how the attempt ended. Repeating the same report with the same lease
 * answers the same task; a different outcome or a stale lease is a 409.
 */
export async function completeTask(ctx: ServiceContext, taskId: string, input: CompleteTaskRequest): Promise<Task> {
  const { row } = await ctx.events.transaction(async (tx, append) => {
    const [current] = await tx.select().from(tasks).where(eq(tasks.id, taskId)).for("update");
    if (!current) throw notFound("Task");
    if (current.status !== "running") {
      if (current.leaseToken === input.lease_token && current.status === input.status) return { row: current };
      if (current.leaseToken === input.lease_token) throw conflict(`Task is already ${current.status}`);
      throw leaseLost();
    }
    if (current.leaseToken !== input.lease_token) throw leaseLost();
    if (input.session_id && current.sessionId && input.session_id !== current.sessionId) {
      throw conflict(`This attempt ran session ${current.sessionId}, not ${input.session_id}`);
    }
    const status = current.cancelRequested && input.status !== "completed" ? "cancelled" : input.status;
    const sessionId = input.session_id ?? current.sessionId;
    const [row] = await tx
      .update(tasks)
      .set({
        status,
        result: input.result ?? null,
        error: input.error ?? (status === "cancelled" ? "Cancelled" : null),
        sessionId,
        leaseExpiresAt: null,
        completedAt: new Date(),
        updatedAt: new Date(),
      })
      .where(eq(tasks.id, taskId))
      .returning();
    if (current.kind !== "agent") {
      // Work on a worktree ran no agent: no session to end, and no `complete` that a client would take for a run's end.
      await append(current.codebaseId, [
        {
          type: "status",
          data: { session_id: null, status: `${current.kind}_${status}`, task_id: taskId, message: input.error ?? input.result ?? current.title },
          taskId,
        },
      ]);
      return { row: row! };
    }
    if (sessionId) {
      // The task's session shows up among the codebase's sessions, whichever runner ran it
      // (a worker's lives in that worker's OpenCode; the local runner adds its messages after this).
      const outcome = status === "completed" ? "completed" : status === "cancelled" ? "aborted" : "failed";
      await tx
        .insert(sessions)
        .values({
          id: sessionId,
          codebaseId: current.codebaseId,
          title: current.title,
          agent: current.agentType,
          model: current.model,
          status: outcome,
          error: input.error ?? null,
        })
        .onConflictDoUpdate({
          target: sessions.id,
          set: { status: outcome, error: input.error ?? null, runOwner: null, runHeartbeatAt: null, updatedAt: new Date() },
          // Only the session this task made (its transcript upload), never one a runner merely names.
          setWhere: eq(sessions.runOwner, taskOwner(taskId)),
        });
    }
    // Nothing of this task is left running (a session it named, then did not end with).
    await endTaskSession(tx, taskId, "failed", "The task ended without this session");
    await append(current.codebaseId, [
      {
        type: "complete",
        data: { session_id: sessionId ?? null, status, task_id: taskId, ...(input.error ? { error: input.error } : {}) },
        taskId,
      },
    ]);
    return { row: row! };
  });
  return toTask(row);
}

/** A runner hands a task back (it is shutting down): it runs again at once, and this attempt does not count. */
export async function releaseTask(ctx: ServiceContext, taskId: string, token: string, reason: string): Promise<Task> {
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
export async function sweepExpiredLeases(ctx: ServiceContext): Promise<number> {
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
