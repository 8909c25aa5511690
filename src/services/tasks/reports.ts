/**
 * Reports of a runner's attempt while it runs: its events and its session's
 * messages (how it ended: completions.ts). Each is fenced by the lease (see
 * leases.ts) and idempotent: a retried report changes nothing.
 */
import { count, eq, sql } from "drizzle-orm";
import { conflict, invalid, leaseLost, notFound, type ServiceError } from "../../contracts/errors.js";
import { type EventType, eventSchemas, type NewEvent } from "../../contracts/events.js";
import { value } from "../../db/compiled.js";
import { messages, sessions, tasks } from "../../db/schema.js";
import type { OcMessage } from "../../opencode/client.js";
import type { ServiceContext } from "../context.js";
import { type AppendedRow, appendCtes, appendedColumns, givenEvents, givenInput } from "../events/append.js";
import { upsertMessages } from "../sessions/session-store.js";
import { causesWebhooks } from "../webhooks/webhook-events.js";
import { taskOwner } from "./attempt-session.js";
import { lockLeased } from "./leases.js";
import type { UploadEventsRequest, UploadMessagesRequest } from "./tasks.types.js";

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
  // An attempt runs one session: its events (and the usage they count) cannot name two, nor another than its own.
  const named = [...new Set(events.flatMap((e) => (e.data.session_id ? [e.data.session_id] : [])))];
  if (named.length > 1) throw invalid(`events name sessions ${named.join(" and ")}: an attempt runs one session`);
  const sessionId = named[0] ?? null;
  const through = events.reduce((high, e) => Math.max(high, e.workerSeq ?? 0), 0);
  const owner = taskOwner(taskId);
  // A webhook message names its codebase: a batch with an event that causes one (most do not) needs to know it.
  const codebaseId = events.some(causesWebhooks) ? await codebaseOf(ctx, taskId) : undefined;
  const given = givenEvents(codebaseId ?? null, events);
  const appendInput = givenInput({
    ...(codebaseId ? {} : { stream: sql`(select codebase_id from leased)` }),
    // Per claim, not per counted attempt: a run after a hand-back numbers its events from 1 again.
    attempt: sql`(select claims from leased)`,
    when: sql`exists (select 1 from leased)`,
  });
  // One statement: the lease check, which also records the session and what is stored (every event of the batch
  // is, once this commits: fresh or already there) and locks the task, the session's row on the attempt's first
  // word of it, and the append.
  const build = () => sql`with leased as (
      update tasks set uploaded_through = greatest(uploaded_through, ${value("through")}), session_id = coalesce(session_id, ${value("sessionId")}::text)
      where id = ${value("taskId")} and status = 'running' and lease_token = ${value("token")}
        and (${value("sessionId")}::text is null or session_id is null or session_id = ${value("sessionId")}::text)
        and not exists (select 1 from sessions s where s.id = coalesce(tasks.session_id, ${value("sessionId")}::text) and coalesce(s.run_owner, '') <> ${value("owner")})
      returning codebase_id, claims, uploaded_through, session_id, title, agent_type, model,
        exists (select 1 from sessions s where s.id = tasks.session_id) as session_listed,
        -- The statement's snapshot: how far the attempt was stored before this upload (or less, see appendCtes).
        (select t.uploaded_through from tasks t where t.id = tasks.id) as stored_through
    ), listed as (
      -- The attempt's first word of its session: it is listed (running, the task's) from now on.
      insert into sessions (id, codebase_id, title, agent, model, status, run_owner)
      select session_id, codebase_id, title, agent_type, model, 'running', ${value("owner")}::text from leased where session_id is not null and not session_listed
      on conflict do nothing
    ), ${appendCtes(appendInput, { ...given, storedThrough: sql`(select stored_through from leased)` })}
    select l.uploaded_through as acked, l.codebase_id, ${appendedColumns} from leased l left join appended a on true`;
  const query = {
    key: `upload${codebaseId ? "" : ":leased"}${given.shape}`,
    build,
    values: { ...given.values, through, sessionId, taskId, token: input.lease_token, owner },
  };
  const answer = await ctx.events.statement<{ acked: number; stored: number } | null, AppendedRow & { acked: number; codebase_id: string }>(query, (rows) => {
    if (rows.length === 0) return { result: null, stored: [] };
    const stored = given.decode(rows);
    return { result: { acked: Number(rows[0]!.acked), stored: stored.filter(Boolean).length }, stored: [[rows[0]!.codebase_id, stored]] };
  });
  if (!answer) throw await whyUploadRefused(ctx, taskId, input.lease_token, sessionId);
  return { acked_through: answer.acked, stored: answer.stored };
}

/** The codebase of a task, remembered or read (undefined: no such task; the lease check then says so). */
async function codebaseOf(ctx: ServiceContext, taskId: string): Promise<string | undefined> {
  const known = ctx.taskCodebases.of(taskId);
  if (known) return known;
  const [row] = await ctx.database.db.select({ id: tasks.codebaseId }).from(tasks).where(eq(tasks.id, taskId));
  if (row) ctx.taskCodebases.remember(taskId, row.id);
  return row?.id;
}

/** Why the upload's lease check matched nothing: each of its conditions, once lost, stays lost for the attempt. */
async function whyUploadRefused(ctx: ServiceContext, taskId: string, token: string, sessionId: string | null): Promise<ServiceError> {
  const [task] = await ctx.database.db
    .select({ status: tasks.status, leaseToken: tasks.leaseToken, sessionId: tasks.sessionId })
    .from(tasks)
    .where(eq(tasks.id, taskId));
  if (!task) return notFound("Task");
  if (task.status !== "running" || task.leaseToken !== token) return leaseLost();
  if (sessionId && task.sessionId && task.sessionId !== sessionId)
    return invalid(`events name session ${sessionId}, but this attempt runs session ${task.sessionId}`);
  return conflict(`Session ${task.sessionId ?? sessionId} is not this task's: an attempt runs a session of its own`);
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
