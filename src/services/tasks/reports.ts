/**
 * Reports of a runner's attempt: its events, its session's messages, and how it
 * ended. Each is fenced by the lease (see leases.ts) and idempotent: a retried
 * report changes nothing.
 */
import { and, count, eq, sql } from "drizzle-orm";
import { conflict, invalid, leaseLost, notFound } from "../../contracts/errors.js";
import { type EventType, eventSchemas, type NewEvent } from "../../contracts/events.js";
import { messages, sessions, tasks } from "../../db/schema.js";
import type { OcMessage } from "../../opencode/client.js";
import type { ServiceContext } from "../context.js";
import { upsertMessages } from "../sessions/session-store.js";
import { endTaskSession, taskOwner } from "./attempt-session.js";
import { lockLeased } from "./leases.js";
import { toTask } from "./tasks.js";
import type { CompleteTaskRequest, Task, UploadEventsRequest, UploadMessagesRequest } from "./tasks.types.js";

const uploadable = new Set<EventType>(["status", "output", "reasoning", "tool_use", "file_change", "permission", "usage", "error", "diff"]);

/**
 * Stores a batch of a runner's events for its current attempt, skipping any it
 * already sent, and answers the highest sequence number stored so far.
 */
export async function uploadTaskEvents({
  ctx,
  taskId,
  input,
}: {
  ctx: ServiceContext;
  taskId: string;
  input: UploadEventsRequest;
}): Promise<{ acked_through: number; stored: number }> {
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
export async function uploadTaskMessages({
  ctx,
  taskId,
  input,
}: {
  ctx: ServiceContext;
  taskId: string;
  input: UploadMessagesRequest;
}): Promise<{ stored: number; message_count: number }> {
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
export async function completeTask({ ctx, taskId, input }: { ctx: ServiceContext; taskId: string; input: CompleteTaskRequest }): Promise<Task> {
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
