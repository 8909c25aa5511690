/**
 * Follow-up prompts queued on a running session (`queue: true`): stored, so they survive a restart, and run
 * one at a time, in order, each as the session's next turn once the one before has ended. Whichever server
 * process sees the session idle first starts the next (the session row's lock and a `starting` mark keep two
 * from starting two); a turn's own end starts the next at once, and a sweep picks up what a restart left.
 * A user's abort cancels what is queued; a turn that failed does not stop the queue.
 */
import { randomUUID } from "node:crypto";
import { and, asc, count, eq, inArray, lt, ne, sql } from "drizzle-orm";
import { conflict, notFound, ServiceError } from "../../contracts/errors.js";
import { queuedPrompts, sessions } from "../../db/schema.js";
import { recordAudit } from "../access/audit.js";
import { createdBy } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import type { EditQueuedPrompt, QueuedPrompt, QueuedTriggerResponse, TriggerRequest } from "./sessions.types.js";

type QueuedRow = typeof queuedPrompts.$inferSelect;
type SessionRow = typeof sessions.$inferSelect;

/** A `starting` mark older than this was left by a process that died while starting it: it is queued again. */
const startingStaleSeconds = 60;

const toQueued = (r: QueuedRow): QueuedPrompt => ({
  id: r.id,
  session_id: r.sessionId,
  codebase_id: r.codebaseId,
  prompt: r.prompt,
  agent: r.agent,
  model: r.model,
  status: r.status as QueuedPrompt["status"],
  run_id: r.runId ?? "",
  error: r.error,
  created_by: r.createdBy,
  created_at: r.createdAt.toISOString(),
  started_at: r.startedAt?.toISOString() ?? null,
});

const waiting = (sessionId: string) => and(eq(queuedPrompts.sessionId, sessionId), inArray(queuedPrompts.status, ["queued", "starting"]));

/** Whether a trigger on this session should queue: it is running, or prompts already wait (their order holds). */
export async function shouldQueue(ctx: ServiceContext, session: SessionRow): Promise<boolean> {
  if (session.status === "running" || ctx.bridge.runner.isRunning(session.id)) return true;
  const [row] = await ctx.database.db.select({ n: count() }).from(queuedPrompts).where(waiting(session.id));
  return Number(row?.n ?? 0) > 0;
}

/** Queues `input` as the session's next turn after those already waiting. */
export async function queueFollowUp(ctx: ServiceContext, session: SessionRow, input: TriggerRequest, trigger: TriggerFn): Promise<QueuedTriggerResponse> {
  const { row, position } = await ctx.database.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(queuedPrompts)
      .values({
        id: `qp_${randomUUID().replace(/-/g, "").slice(0, 20)}`,
        sessionId: session.id,
        codebaseId: session.codebaseId,
        prompt: input.prompt,
        agent: input.agent ?? null,
        model: input.model ?? null,
        runId: randomUUID(),
        createdBy: createdBy(ctx),
      })
      .returning();
    const [ahead] = await tx.select({ n: count() }).from(queuedPrompts).where(waiting(session.id));
    await recordAudit(tx, ctx, { action: "session.queue", targetType: "session", targetId: session.id, detail: { queued_prompt_id: row!.id } });
    return { row: row!, position: Number(ahead?.n ?? 1) };
  });
  // The turn may have ended between the check and the insert: then nothing else would start this one.
  void startNextFollowUp(ctx, session.id, trigger).catch((err) => ctx.log.warn({ session_id: session.id, err }, "starting a queued follow-up failed"));
  const base = `/v1/opencode/codebases/${session.codebaseId}`;
  return {
    status: "queued",
    session_id: session.id,
    run_id: row.runId!,
    codebase_id: session.codebaseId,
    position,
    queued_prompt: toQueued(row),
    last_event_id: await ctx.events.head(session.codebaseId),
    events_url: `${base}/events`,
    session_url: `${base}/sessions/${session.id}`,
    queue_url: `${base}/sessions/${session.id}/queue`,
  };
}

/** The session's queued prompts (waiting, then the ones that started or ended, newest 50). */
export async function listQueued(ctx: ServiceContext, sessionId: string, onlyWaiting = false): Promise<QueuedPrompt[]> {
  const rows = await ctx.database.db
    .select()
    .from(queuedPrompts)
    .where(onlyWaiting ? waiting(sessionId) : eq(queuedPrompts.sessionId, sessionId))
    .orderBy(asc(queuedPrompts.position))
    .limit(200);
  return rows.map(toQueued);
}

async function waitingRow(ctx: ServiceContext, sessionId: string, promptId: string): Promise<QueuedRow> {
  const [row] = await ctx.database.db
    .select()
    .from(queuedPrompts)
    .where(and(eq(queuedPrompts.id, promptId), eq(queuedPrompts.sessionId, sessionId)));
  if (!row) throw notFound("Queued prompt");
  if (row.status !== "queued") throw conflict(`The prompt is ${row.status} already: only a queued one can be changed`);
  return row;
}

/** Changes a prompt that has not started yet. */
export async function editQueued(ctx: ServiceContext, sessionId: string, promptId: string, input: EditQueuedPrompt): Promise<QueuedPrompt> {
  await waitingRow(ctx, sessionId, promptId);
  const [row] = await ctx.database.db
    .update(queuedPrompts)
    .set({
      ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
      ...(input.agent !== undefined ? { agent: input.agent } : {}),
      ...(input.model !== undefined ? { model: input.model } : {}),
    })
    .where(and(eq(queuedPrompts.id, promptId), eq(queuedPrompts.status, "queued")))
    .returning();
  if (!row) throw conflict("The prompt started meanwhile: it can no longer be changed");
  return toQueued(row);
}

/** Removes a prompt that has not started yet. */
export async function removeQueued(ctx: ServiceContext, sessionId: string, promptId: string): Promise<{ id: string; removed: true }> {
  await waitingRow(ctx, sessionId, promptId);
  const [row] = await ctx.database.db
    .delete(queuedPrompts)
    .where(and(eq(queuedPrompts.id, promptId), eq(queuedPrompts.status, "queued")))
    .returning({ id: queuedPrompts.id });
  if (!row) throw conflict("The prompt started meanwhile: it can no longer be removed");
  return { id: promptId, removed: true };
}

/** Cancels what waits on the session (a user aborted it). */
export async function cancelFollowUps(ctx: ServiceContext, sessionId: string): Promise<number> {
  const rows = await ctx.database.db
    .update(queuedPrompts)
    .set({ status: "cancelled", error: "The session was aborted before it started" })
    .where(and(eq(queuedPrompts.sessionId, sessionId), eq(queuedPrompts.status, "queued")))
    .returning({ id: queuedPrompts.id });
  return rows.length;
}

/** Errors that waiting cures (OpenCode down, the codebase's run limit, the turn not over yet): try again later. */
const passing = (err: unknown) => err instanceof ServiceError && (err.code === "UNAVAILABLE" || err.code === "CONFLICT");

/** What starts a turn: triggerAgent, passed in by its callers (trigger.ts imports this module, not the other way). */
export type TriggerFn = (args: { ctx: ServiceContext; codebaseId: string; input: TriggerRequest; runId?: string }) => Promise<unknown>;

/** Starts the session's next queued prompt if the session is idle and none is starting; true when one started. */
export async function startNextFollowUp(ctx: ServiceContext, sessionId: string, trigger: TriggerFn): Promise<boolean> {
  if (ctx.shutdown.aborted) return false;
  const claimed = await ctx.database.db.transaction(async (tx) => {
    const [session] = await tx.select().from(sessions).where(eq(sessions.id, sessionId)).for("update", { skipLocked: true });
    if (!session || session.status === "running" || ctx.bridge.runner.isRunning(sessionId)) return null;
    const [starting] = await tx
      .select({ id: queuedPrompts.id })
      .from(queuedPrompts)
      .where(and(eq(queuedPrompts.sessionId, sessionId), eq(queuedPrompts.status, "starting")));
    if (starting) return null;
    const [head] = await tx
      .select()
      .from(queuedPrompts)
      .where(and(eq(queuedPrompts.sessionId, sessionId), eq(queuedPrompts.status, "queued")))
      .orderBy(asc(queuedPrompts.position))
      .limit(1);
    if (!head) return null;
    await tx.update(queuedPrompts).set({ status: "starting", startedAt: new Date() }).where(eq(queuedPrompts.id, head.id));
    return head;
  });
  if (!claimed) return false;
  try {
    await trigger({
      ctx,
      codebaseId: claimed.codebaseId,
      input: {
        prompt: claimed.prompt,
        session_id: sessionId,
        ...(claimed.agent ? { agent: claimed.agent as TriggerRequest["agent"] } : {}),
        ...(claimed.model ? { model: claimed.model } : {}),
      },
      runId: claimed.runId ?? undefined,
    });
    await ctx.database.db.update(queuedPrompts).set({ status: "started" }).where(eq(queuedPrompts.id, claimed.id));
    return true;
  } catch (err) {
    if (passing(err)) {
      await ctx.database.db.update(queuedPrompts).set({ status: "queued", startedAt: null }).where(eq(queuedPrompts.id, claimed.id));
      return false;
    }
    const message = err instanceof Error ? err.message : String(err);
    ctx.log.warn({ session_id: sessionId, queued_prompt_id: claimed.id, err }, "a queued follow-up could not start");
    await ctx.database.db.update(queuedPrompts).set({ status: "failed", error: message }).where(eq(queuedPrompts.id, claimed.id));
    // The next one may well start.
    return startNextFollowUp(ctx, sessionId, trigger);
  }
}

/**
 * Starts what waits on idle sessions (after a restart, or a turn whose end this process did not see) and
 * requeues prompts a dead process left `starting`. Run by every process every few seconds.
 */
export async function sweepFollowUps(ctx: ServiceContext, trigger: TriggerFn): Promise<number> {
  await ctx.database.db
    .update(queuedPrompts)
    .set({ status: "queued", startedAt: null })
    .where(and(eq(queuedPrompts.status, "starting"), lt(queuedPrompts.startedAt, sql`now() - make_interval(secs => ${startingStaleSeconds})`)));
  const idle = await ctx.database.db
    .selectDistinct({ sessionId: queuedPrompts.sessionId })
    .from(queuedPrompts)
    .innerJoin(sessions, eq(sessions.id, queuedPrompts.sessionId))
    .where(and(eq(queuedPrompts.status, "queued"), ne(sessions.status, "running")))
    .limit(50);
  let started = 0;
  for (const { sessionId } of idle) if (await startNextFollowUp(ctx, sessionId, trigger)) started++;
  return started;
}
