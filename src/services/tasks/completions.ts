/**
 * How an attempt ended: a runner's report of its outcome, one at a time or several
 * in one call. Each is fenced by its lease and idempotent: repeating the same report
 * with the same lease answers the same task; a different outcome or a stale lease is
 * a 409.
 *
 * One statement writes the ends of a codebase's tasks, each on condition that its
 * task is as expected: running under the report's lease, an agent's, not cancelled,
 * in the session the report names. What an end means (its status, its session's end,
 * its event) is worked out here from that expectation, so the usual report is one
 * round trip, and a batch of them is one too. A task that is not as expected (a
 * cancel was requested, an upload named the session, the lease was lost, this
 * process never saw the claim) is answered as it is, and its end is worked out again
 * from that, on its own.
 */
import { eq, sql } from "drizzle-orm";
import { conflict, leaseLost, notFound, ServiceError } from "../../contracts/errors.js";
import type { NewEvent } from "../../contracts/events.js";
import { tableRow } from "../../db/client.js";
import { textsOf, value } from "../../db/compiled.js";
import { tasks } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { type AppendedRow, appendCtes, appendedColumns, givenEvents, givenInput } from "../events/append.js";
import { taskOwnerOf } from "./attempt-session.js";
import { type TaskRow, toTask } from "./tasks.js";
import type { CompleteManyRequest, CompleteTaskRequest, CompletionResult, Task } from "./tasks.types.js";

/** Records how the attempt ended (see the top of this file). */
export async function completeTask({ ctx, taskId, input }: { ctx: ServiceContext; taskId: string; input: CompleteTaskRequest }): Promise<Task> {
  return completeFrom(ctx, taskId, input, null);
}

/** How a report in a batch that was refused is answered (the single-report call answers these as 409 and 404). */
const batchErrors = { LEASE_LOST: "lease_lost", CONFLICT: "conflict", NOT_FOUND: "not_found" } as const;

/**
 * Reports several attempts' outcomes; each is checked against its own lease and answered on its own (a lost lease
 * fails that item, not the batch). Repeating a batch repeats nothing: every report is idempotent. The reports of a
 * codebase's tasks are written by one statement (a task named twice: the first report decides, the second is
 * answered as a repeat of it); what that statement found otherwise than expected is then worked out one by one.
 */
export async function completeMany({ ctx, input }: { ctx: ServiceContext; input: CompleteManyRequest }): Promise<CompletionResult[]> {
  const reports = input.completions.map(({ task_id, ...report }) => ({ taskId: task_id, input: report }));
  // Per codebase, the reports that go in its statement: one per task and per session (a statement ends each once).
  const together = new Map<string, { index: number; end: End }[]>();
  const tasksSeen = new Set<string>();
  const sessionsSeen = new Set<string>();
  reports.forEach(({ taskId, input: report }, index) => {
    const codebaseId = ctx.taskCodebases.of(taskId);
    const first = !tasksSeen.has(taskId);
    tasksSeen.add(taskId);
    if (!codebaseId || !first || (report.session_id && sessionsSeen.has(report.session_id))) return;
    if (report.session_id) sessionsSeen.add(report.session_id);
    const group = together.get(codebaseId) ?? [];
    group.push({ index, end: { expected: expectedRunning(taskId, codebaseId, report), input: report } });
    together.set(codebaseId, group);
  });
  const outcomes = new Map<number, EndOutcome>();
  for (const [codebaseId, group] of together) {
    const written = await recordEnds(
      ctx,
      codebaseId,
      group.map((g) => g.end),
    );
    for (const [i, g] of group.entries()) outcomes.set(g.index, written[i]!);
  }
  const results: CompletionResult[] = [];
  for (const [index, { taskId, input: report }] of reports.entries()) {
    try {
      results.push({ task_id: taskId, ok: true, task: await settle(ctx, taskId, report, outcomes.get(index)) });
    } catch (err) {
      if (!(err instanceof ServiceError) || !(err.code in batchErrors)) throw err;
      results.push({ task_id: taskId, ok: false, error: batchErrors[err.code as keyof typeof batchErrors], detail: err.message });
    }
  }
  return results;
}

/** A report's answer from what its codebase's statement did (undefined: it was not in one). */
async function settle(ctx: ServiceContext, taskId: string, input: CompleteTaskRequest, outcome: EndOutcome | undefined): Promise<Task> {
  if (!outcome) return completeFrom(ctx, taskId, input, null);
  if ("ended" in outcome) return toTask(outcome.ended);
  if (!outcome.current) throw notFound("Task");
  return completeFrom(ctx, taskId, input, outcome.current);
}

/** `completeTask` from the task as last seen (`current`; null: not read yet). */
async function completeFrom(ctx: ServiceContext, taskId: string, input: CompleteTaskRequest, current: TaskRow | null): Promise<Task> {
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
    const expected = current ?? expectedRunning(taskId, codebaseId!, input);
    const [outcome] = (await recordEnds(ctx, expected.codebaseId, [{ expected, input }])) as [EndOutcome];
    if ("ended" in outcome) return toTask(outcome.ended);
    if (!outcome.current) throw notFound("Task");
    current = outcome.current;
  }
}

/** What `recordEnds` expects a running task to be. */
type Expected = Pick<TaskRow, "id" | "codebaseId" | "kind" | "title" | "cancelRequested" | "sessionId">;

/** A report and what its task is expected to be. */
interface End {
  expected: Expected;
  input: CompleteTaskRequest;
}

/** An end written (the task as it ended), or not (the task as it is; null: there is no such task). */
type EndOutcome = { ended: TaskRow } | { current: TaskRow | null };

/** What a task of `codebaseId` not read yet is expected to be: an agent's, running the session the report names. */
function expectedRunning(taskId: string, codebaseId: string, input: CompleteTaskRequest): Expected {
  return { id: taskId, codebaseId, kind: "agent", title: "", cancelRequested: false, sessionId: input.session_id ?? null };
}

/**
 * The one statement of a report, or of several reports of `codebaseId`'s tasks (no task, and no session, twice): each
 * task's end, its session's, and its event, written if the task is as expected; otherwise nothing of that task is
 * written and it is answered as it is. Answers an outcome for each of `ends`, in order.
 */
async function recordEnds(ctx: ServiceContext, codebaseId: string, ends: readonly End[]): Promise<EndOutcome[]> {
  const events: NewEvent[] = [];
  const rows = ends.map(({ expected, input }, ord) => {
    const taskId = expected.id;
    const status = expected.cancelRequested && input.status !== "completed" ? "cancelled" : input.status;
    const sessionId = input.session_id ?? expected.sessionId;
    events.push(
      expected.kind === "agent"
        ? {
            type: "complete",
            data: { session_id: sessionId ?? null, status, task_id: taskId, ...(input.error ? { error: input.error } : {}) },
            taskId,
          }
        : // Work on a worktree ran no agent: no session to end, and no `complete` that a client would take for a run's end.
          {
            type: "status",
            data: { session_id: null, status: `${expected.kind}_${status}`, task_id: taskId, message: input.error ?? input.result ?? expected.title },
            taskId,
          },
    );
    return {
      ord,
      task_id: taskId,
      codebase_id: codebaseId,
      status,
      result: input.result ?? null,
      error: input.error ?? (status === "cancelled" ? "Cancelled" : null),
      session_id: sessionId ?? null,
      token: input.lease_token,
      kind: expected.kind,
      cancel_requested: expected.cancelRequested,
      expected_session: expected.sessionId,
      outcome: status === "completed" ? "completed" : status === "cancelled" ? "aborted" : "failed",
      reported_error: input.error ?? null,
    };
  });
  const given = givenEvents(codebaseId, events);
  const query = {
    key: `end${ends.length === 1 ? "" : ":many"}${given.shape}`,
    build: () => endStatement(given, ends.length === 1),
    values: {
      ...given.values,
      ends: JSON.stringify(rows),
      ...(ends.length === 1 ? { id: rows[0]!.task_id } : { ids: JSON.stringify(rows.map((r) => r.task_id)) }),
    },
  };
  type Row = AppendedRow & Record<string, unknown> & { current_row: Record<string, unknown> | string | null };
  return ctx.events.statement<EndOutcome[], Row>(query, (answered) => {
    const outcomes: EndOutcome[] = answered.map((row) => {
      if (row.id) return { ended: tableRow(tasks, row) };
      const raw = typeof row.current_row === "string" ? JSON.parse(row.current_row) : row.current_row;
      return { current: raw ? tableRow(tasks, raw) : null };
    });
    return { result: outcomes, stored: [[codebaseId, given.decode(answered)]] };
  });
}

/**
 * The text of `recordEnds`'s statement: the tasks' ends (`ended`, one row per report in `ends`, by `ord`); an agent's
 * task ends its session, when it has one, and any other it left running; work on a worktree ran none.
 *
 * The tasks are found by id, given beside the reports: `id` (`one`), or the list `ids`. Postgres takes a list of rows
 * for a hundred, and matched to it alone it read every running task (`tasks_lease_idx`, all of them when its
 * statistics were older than the queue) to find one; an id is one probe of the primary key, always.
 */
function endStatement(given: ReturnType<typeof givenEvents>, one: boolean) {
  // The task's session shows up among the codebase's sessions, whichever runner ran it (a worker's lives in that
  // worker's OpenCode; the local runner adds its messages after this), ended as the task did; but only the session
  // the task made (its transcript upload: owned by the task), never one a runner merely names. Nothing else of
  // the task is left running (a session it named, then did not end with).
  return sql`with ends as (
      select * from jsonb_to_recordset(${value("ends")}::jsonb) as e(ord int, task_id text, codebase_id text, status text, result text, error text,
        session_id text, token text, kind text, cancel_requested boolean, expected_session text, outcome text, reported_error text)
    ), done as (
      update tasks set status = e.status, result = e.result, error = e.error, session_id = e.session_id,
        lease_expires_at = null, completed_at = now(), updated_at = now()
      from ends e
      where ${one ? sql`tasks.id = ${value("id")}` : sql`tasks.id = any(${textsOf("ids")})`} and tasks.id = e.task_id and tasks.codebase_id = e.codebase_id
        and tasks.status = 'running' and tasks.lease_token = e.token
        and tasks.kind = e.kind and tasks.cancel_requested = e.cancel_requested and tasks.session_id is not distinct from e.expected_session
      returning tasks.*, e.ord as end_ord, e.outcome, e.reported_error
    ), session_ended as (
      insert into sessions (id, codebase_id, title, agent, model, status, error)
      select d.session_id, d.codebase_id, d.title, d.agent_type, d.model, d.outcome, d.reported_error from done d
      where d.kind = 'agent' and d.session_id is not null
      on conflict (id) do update set status = excluded.status, error = excluded.error, run_owner = null, run_heartbeat_at = null, updated_at = now()
      where sessions.run_owner = (select ${taskOwnerOf(sql`d.id`)} from done d where d.session_id = excluded.id)
    ), others_ended as (
      update sessions set status = 'failed', error = 'The task ended without this session', run_owner = null, run_heartbeat_at = null, updated_at = now()
      from done d
      where d.kind = 'agent' and sessions.run_owner = ${taskOwnerOf(sql`d.id`)} and sessions.status = 'running' and sessions.id is distinct from d.session_id
    ), ${appendCtes(givenInput({ when: sql`i.task_id in (select id from done)` }), given)}
    select (select row_to_json(t) from tasks t where t.id = e.task_id) as current_row, d.*, ${appendedColumns}
    from ends e left join done d on d.end_ord = e.ord left join appended a on a.ord = e.ord
    order by e.ord`;
}
