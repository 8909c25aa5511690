/**
 * Reports of a runner's attempt: its events, its session's messages, and how it
 * ended. Each is fenced by the lease (see leases.ts) and idempotent: a retried
 * report changes nothing.
 */
import { count, eq, type SQL, sql } from "drizzle-orm";
import { conflict, invalid, leaseLost, notFound, type ServiceError } from "../../contracts/errors.js";
import { type EventType, eventSchemas, type NewEvent } from "../../contracts/events.js";
import { tableRow } from "../../db/client.js";
import { value } from "../../db/compiled.js";
import { messages, sessions, tasks } from "../../db/schema.js";
import type { OcMessage } from "../../opencode/client.js";
import type { ServiceContext } from "../context.js";
import { type AppendedRow, appendCtes, appendedColumns, type GivenEvents, givenEvents, givenInput } from "../events/append.js";
import { upsertMessages } from "../sessions/session-store.js";
import { causesWebhooks } from "../webhooks/webhook-events.js";
import { taskOwner } from "./attempt-session.js";
import { lockLeased } from "./leases.js";
import { type TaskRow, toTask } from "./tasks.js";
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
        exists (select 1 from sessions s where s.id = tasks.session_id) as session_listed
    ), listed as (
      -- The attempt's first word of its session: it is listed (running, the task's) from now on.
      insert into sessions (id, codebase_id, title, agent, model, status, run_owner)
      select session_id, codebase_id, title, agent_type, model, 'running', ${value("owner")}::text from leased where session_id is not null and not session_listed
      on conflict do nothing
    ), ${appendCtes(appendInput, given)}
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

/**
 * Records how the attempt ended. Repeating the same report with the same lease
 * answers the same task; a different outcome or a stale lease is a 409.
 *
 * One round trip in the usual case: what the end means (its status, its session's
 * end, its event) is worked out here from what the task is expected to be (running
 * under this lease, an agent's, not cancelled, in the session the report names, of
 * the codebase it was claimed in), and one statement writes it all on condition that
 * the task is so. When it is not (a cancel was requested, an upload named the session,
 * the lease was lost, this process never saw the claim) the statement answers the task
 * as it is, and its end is worked out again from that.
 */
export async function completeTask({ ctx, taskId, input }: { ctx: ServiceContext; taskId: string; input: CompleteTaskRequest }): Promise<Task> {
  let current: TaskRow | null = null;
  for (;;) {
    const codebaseId = current?.codebaseId ?? ctx.taskCodebases.of(taskId);
    if (!codebaseId) {
      [current = null] = await ctx.database.db.select().from(tasks).where(eq(tasks.id, taskId));
      if (!current) throw notFound("Task");
      ctx.taskCodebases.remember(taskId, current.codebaseId);
    }
    if (current) {
      if (current.status !== "running") {
        if (current.leaseToken === input.lease_token && current.status === input.status) return toTask(current);
        if (current.leaseToken === input.lease_token) throw conflict(`Task is already ${current.status}`);
        throw leaseLost();
      }
      if (current.leaseToken !== input.lease_token) throw leaseLost();
      if (input.session_id && current.sessionId && input.session_id !== current.sessionId) {
        throw conflict(`This attempt ran session ${current.sessionId}, not ${input.session_id}`);
      }
    }
    const expected: Expected = current ?? {
      id: taskId,
      codebaseId: codebaseId!,
      kind: "agent",
      title: "",
      cancelRequested: false,
      sessionId: input.session_id ?? null,
    };
    const outcome = await recordEnd(ctx, expected, input);
    if ("ended" in outcome) return toTask(outcome.ended);
    if (!outcome.current) throw notFound("Task");
    current = outcome.current;
  }
}

/** What `recordEnd` expects the running task to be. */
type Expected = Pick<TaskRow, "id" | "codebaseId" | "kind" | "title" | "cancelRequested" | "sessionId">;

/**
 * The one statement of `completeTask`: the task's end, its session's, and its event, written if the task is as
 * `expected`; otherwise nothing is written and the task is answered as it is (null: there is no such task).
 */
async function recordEnd(ctx: ServiceContext, expected: Expected, input: CompleteTaskRequest): Promise<{ ended: TaskRow } | { current: TaskRow | null }> {
  const taskId = expected.id;
  const status = expected.cancelRequested && input.status !== "completed" ? "cancelled" : input.status;
  const sessionId = input.session_id ?? expected.sessionId;
  const error = input.error ?? (status === "cancelled" ? "Cancelled" : null);
  let event: NewEvent;
  let shape: string;
  if (expected.kind !== "agent") {
    // Work on a worktree ran no agent: no session to end, and no `complete` that a client would take for a run's end.
    event = {
      type: "status",
      data: { session_id: null, status: `${expected.kind}_${status}`, task_id: taskId, message: input.error ?? input.result ?? expected.title },
      taskId,
    };
    shape = "work";
  } else {
    event = {
      type: "complete",
      data: { session_id: sessionId ?? null, status, task_id: taskId, ...(input.error ? { error: input.error } : {}) },
      taskId,
    };
    shape = sessionId ? "agent+session" : "agent";
  }
  const given = givenEvents(expected.codebaseId, [event]);
  const query = {
    key: `end:${shape}${given.shape}`,
    build: () => endStatement(shape, givenInput({ when: sql`exists (select 1 from done)` }), given),
    values: {
      ...given.values,
      taskId,
      status,
      result: input.result ?? null,
      error,
      sessionId: sessionId ?? null,
      codebaseId: expected.codebaseId,
      token: input.lease_token,
      kind: expected.kind,
      cancelRequested: expected.cancelRequested,
      expectedSession: expected.sessionId,
      outcome: status === "completed" ? "completed" : status === "cancelled" ? "aborted" : "failed",
      reportedError: input.error ?? null,
      owner: taskOwner(taskId),
    },
  };
  type Row = AppendedRow & Record<string, unknown> & { current_row: Record<string, unknown> | string | null };
  return ctx.events.statement<{ ended: TaskRow } | { current: TaskRow | null }, Row>(query, ([row]) => {
    if (row?.id) return { result: { ended: tableRow(tasks, row) }, stored: [[expected.codebaseId, given.decode([row])]] };
    const raw = typeof row?.current_row === "string" ? JSON.parse(row.current_row) : row?.current_row;
    return { result: { current: raw ? tableRow(tasks, raw) : null }, stored: [] };
  });
}

/**
 * The text of `recordEnd`'s statement for `shape`: an agent's task ends its session (when it has one: "+session")
 * and any other it left running; work on a worktree ran none.
 */
function endStatement(shape: string, input: SQL, given: GivenEvents): SQL {
  // The task's session shows up among the codebase's sessions, whichever runner ran it (a worker's lives in that
  // worker's OpenCode; the local runner adds its messages after this), ended as the task did; but only the session
  // this task made (its transcript upload), never one a runner merely names. Nothing else of this task is left
  // running (a session it named, then did not end with).
  const sessionEnded = sql`, session_ended as (
      insert into sessions (id, codebase_id, title, agent, model, status, error)
      select ${value("sessionId")}::text, codebase_id, title, agent_type, model, ${value("outcome")}::text, ${value("reportedError")}::text from done
      on conflict (id) do update set status = excluded.status, error = excluded.error, run_owner = null, run_heartbeat_at = null, updated_at = now()
      where sessions.run_owner = ${value("owner")}
    )`;
  const othersEnded = sql`, others_ended as (
      update sessions set status = 'failed', error = 'The task ended without this session', run_owner = null, run_heartbeat_at = null, updated_at = now()
      where run_owner = ${value("owner")} and status = 'running' and id is distinct from ${value("sessionId")}::text and exists (select 1 from done)
    )`;
  const sessionEnd = shape === "agent+session" ? sql`${sessionEnded}${othersEnded}` : shape === "agent" ? othersEnded : sql``;
  return sql`with current as (select * from tasks where id = ${value("taskId")}), done as (
      update tasks set status = ${value("status")}, result = ${value("result")}, error = ${value("error")}, session_id = ${value("sessionId")},
        lease_expires_at = null, completed_at = now(), updated_at = now()
      where id = ${value("taskId")} and codebase_id = ${value("codebaseId")} and status = 'running' and lease_token = ${value("token")}
        and kind = ${value("kind")} and cancel_requested = ${value("cancelRequested")} and session_id is not distinct from ${value("expectedSession")}::text
      returning *
    )${sessionEnd}, ${appendCtes(input, given)}
    select (select row_to_json(c) from current c) as current_row, d.*, ${appendedColumns}
    from (select 1) one left join done d on true left join appended a on true`;
}
