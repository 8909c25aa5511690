/**
 * Claims: a runner takes the most urgent task it may run, leased, in one
 * statement (`FOR UPDATE SKIP LOCKED`, so two never take the same one), now or
 * after waiting for work. Routing says which runner may take which task.
 */
import { and, isNull, or, type SQL, sql } from "drizzle-orm";
import type { Config } from "../../config.js";
import type { AgentConfig } from "../../contracts/agent-config.js";
import { notFound } from "../../contracts/errors.js";
import type { AgentEvent } from "../../contracts/events.js";
import { tableRow } from "../../db/client.js";
import { textsOf, value } from "../../db/compiled.js";
import { codebases, tasks, urgentFirst, waitingForClaim } from "../../db/schema.js";
import { runBudgetUsd } from "../../opencode/run-settings.js";
import type { ServiceContext } from "../context.js";
import { type AppendedRow, appendCtes, appendedColumns, appendedContent, appendedEvent } from "../events/append.js";
import { candidateCodebase, inFlightSql, runLimitSql } from "../sessions/in-flight.js";
import { leaseEnd, localWorkerId, releaseTask } from "./leases.js";
import { toTask } from "./tasks.js";
import type { Claim, Claimant } from "./tasks.types.js";

/** The codebase's agent settings as a runner gets them: `max_cost_usd` is the budget in force, the server's cap included. */
function withBudget(agentConfig: AgentConfig, config: Config): Record<string, unknown> {
  const budget = runBudgetUsd(agentConfig, config);
  return budget === undefined ? agentConfig : { ...agentConfig, max_cost_usd: budget };
}

/**
 * Which tasks `claimant` may take, as SQL of the claim's text (its shape `routingShape`'s): what the task itself says
 * (`task`), and what its codebase says (`codebase`, over the row of `codebases` that is the task's). The local
 * runner's models are its `models` value; a worker's codebases and models are read from its row, `w` (see
 * `claimTasks`), in the same statement, as is whether it drains (then it takes nothing).
 */
function routing(claimant: Claimant): { task: SQL; codebase: SQL } {
  // Work on a run's worktree goes only to the runner that holds it (the server does its own at once).
  if (claimant.kind === "local") {
    const models = claimant.models === null ? undefined : or(isNull(tasks.model), sql`${tasks.model} = any(${textsOf("models")})`);
    return { task: and(isNull(tasks.runnerPin), models)!, codebase: isNull(codebases.workerId) };
  }
  const named = sql`${codebases.workerId} is null and ${codebases.name} in (select jsonb_array_elements(w.codebases)->>'name' from w)`;
  return {
    task: sql`(${tasks.runnerPin} is null or ${tasks.runnerPin} = ${value("claimant")})
    and (${tasks.model} is null or (select w.models is null from w) or ${tasks.model} in (select jsonb_array_elements(w.models->'models')->>'id' from w))
    and exists (select 1 from w where not w.draining)`,
    codebase: sql`(${codebases.workerId} = ${value("claimant")} or (${named}))`,
  };
}

const routingShape = (claimant: Claimant) => (claimant.kind === "worker" ? "worker" : `local${claimant.models === null ? "" : "+models"}`);

/** How old a worker's heartbeat may be before its claim records a new one (workers beat every 5 s on their own). */
const claimTouchMs = 5_000;

/**
 * A worker's row as its claim reads it (`w`): a claim is a sign of life too, but a busy worker claims far more often
 * than it needs recording, so the row is written only when its heartbeat is a few seconds old (and only on a claim
 * request's first try: a request still waiting is no sign that the worker is). It is written as `touchWorker` writes
 * a heartbeat, by this server's clock (`now`, `staleBefore`, ISO text: drizzle's postgres.js driver takes timestamps
 * as text), which is the clock `isOnline` reads it by.
 */
const workerCtes = sql`touched as (
      update workers set last_heartbeat_at = ${value("now")}::timestamptz, offline_notified_at = null
      where name = ${value("claimant")} and ${value("touch")}::boolean
        and (last_heartbeat_at is null or last_heartbeat_at < ${value("staleBefore")}::timestamptz)
      returning *
    ), w as (
      select * from touched union all select * from workers where name = ${value("claimant")} and not exists (select 1 from touched)
    ), `;

/** An agent task waits while its codebase has as many runs in flight as it allows (agent_config.max_concurrent_runs, when set). */
const withinRunLimit = sql`(${tasks.kind} <> 'agent' or ${runLimitSql} is null or ${inFlightSql(candidateCodebase)} < ${runLimitSql})`;

/**
 * Takes the most urgent runnable task this claimant may run, in one statement
 * (`FOR UPDATE SKIP LOCKED`), and leases it. Null when there is none.
 */
export async function claimTask({ ctx, claimant }: { ctx: ServiceContext; claimant: Claimant }): Promise<Claim | null> {
  const { claims } = await claimTasks({ ctx, claimant, max: 1, touch: true });
  return claims[0] ?? null;
}

/**
 * Takes up to `max` of the most urgent runnable tasks this claimant may run, in one
 * statement (`FOR UPDATE SKIP LOCKED`, so two claimants never take the same task),
 * each leased with a token of its own, with its `claimed` event on its codebase's
 * stream: the leases and the events commit together or not at all. A worker that is not
 * registered is a 404; one that drains takes nothing (`draining`). `touch`: the claim
 * records a sign of life of the worker's (see `workerCtes`).
 */
async function claimTasks({
  ctx,
  claimant,
  max,
  touch,
}: {
  ctx: ServiceContext;
  claimant: Claimant;
  max: number;
  touch: boolean;
}): Promise<{ claims: Claim[]; draining: boolean }> {
  const lease = ctx.config.leaseSeconds;
  const workerId = claimant.kind === "local" ? localWorkerId : claimant.name;
  const build = () => {
    const route = routing(claimant);
    // The codebases this claimant may take from, most urgent queue head first (read, not locked: one row of
    // tasks_codebase_runnable_idx each), then from each in that order its most urgent tasks, locked, until `max` are
    // taken: a claim reads about as many rows as it has codebases, however many tasks wait in them or in others', and
    // locks only what it takes (plus, in a batch, what the last codebase it reads had beyond it), so claims made at
    // the same moment on other codebases' tasks do not find them locked. A batch takes a codebase's tasks before the
    // next codebase's. Reading the whole queue instead took 10-112 ms a claim with 50,000 pending.
    const queue = sql`from ${tasks}
        where ${tasks.codebaseId} = ${codebases.id} and ${waitingForClaim} and ${tasks.runAfter} <= now() and ${route.task} and ${withinRunLimit}
        order by ${sql.join(urgentFirst, sql`, `)}`;
    // The outer FROM item is named codebases too (its id and agent_config), so `queue` reads the same there; a lateral
    // join keeps the heads' order, and the limit stops it at the codebase where `max` are taken.
    const candidates = sql`select pick.id from (
        select ${codebases.id} as id, ${codebases.agentConfig} as agent_config
        from ${codebases} cross join lateral (select ${tasks.priority}, ${tasks.createdAt}, ${tasks.id} ${queue} limit 1) head
        where ${route.codebase}
        order by head.priority desc nulls last, head.created_at, head.id
      ) ${codebases}
      cross join lateral (select ${tasks.id} ${queue} limit ${value("max")} for update of ${tasks} skip locked) pick
      limit ${value("max")}`;
    const worker = claimant.kind === "worker";
    return sql`with ${worker ? workerCtes : sql``}claimed as (
      update tasks set status = 'running', attempts = attempts + 1, claims = claims + 1, uploaded_through = 0, worker_id = ${value("workerId")},
        lease_token = gen_random_uuid()::text, lease_expires_at = ${leaseEnd(value("leaseSeconds"))}, started_at = coalesce(started_at, now()), updated_at = now()
      from codebases c
      -- The candidates are pending and locked by this statement, so nothing else can have changed them. They are
      -- found by id: one probe of the primary key for a claim of one (a scalar subquery, an InitPlan), and the
      -- array of a batch's (ARRAY(subquery) runs once too; a bare IN (subquery) may be re-run per row and claim
      -- more). Saying status = 'pending' again, or matching a list where one id will do, let Postgres read every
      -- pending task of the codebase (tasks_codebase_runnable_idx), or the table, when its statistics were older
      -- than the queue.
      where c.id = tasks.codebase_id and tasks.id = ${max === 1 ? sql`(${candidates})` : sql`any(array(${candidates}))`}
      -- Each task's codebase comes back with it, in the same statement.
      returning tasks.*, c.name as codebase_name, c.path as codebase_path, c.agent_config as codebase_agent_config
    ), ${appendCtes(sql`
      select codebase_id as stream_id, (row_number() over (order by priority desc, created_at, id))::int as ord, 'status' as type,
        null::text as session_id, id as task_id, null::int as attempt, null::int as worker_seq,
        jsonb_build_object('session_id', null, 'status', 'claimed', 'task_id', id, 'attempt', attempts, 'message', 'Attempt ' || attempts || ' on ' || ${value("workerId")}::text) as data
      from claimed`)}
    select ${worker ? sql`(select count(*) from w)::int as worker_found, (select bool_or(w.draining) from w) as worker_draining, ` : sql``}c.*, ${appendedColumns}, ${appendedContent}
    from (select 1) one left join (claimed c join appended a on a.task_id = c.id) on true order by a.ord`;
  };
  const values =
    claimant.kind === "worker"
      ? {
          claimant: claimant.name,
          touch,
          now: new Date().toISOString(),
          staleBefore: new Date(Date.now() - claimTouchMs).toISOString(),
          max,
          workerId,
          leaseSeconds: lease,
        }
      : { models: JSON.stringify(claimant.models ?? []), max, workerId, leaseSeconds: lease };
  const query = { key: `claim:${routingShape(claimant)}${max === 1 ? "" : ":many"}`, build, values };
  type Row = AppendedRow & Record<string, unknown> & { worker_found?: number; worker_draining?: boolean | null };
  const claimed = await ctx.events.statement<{ claims: Claim[]; draining: boolean }, Row>(query, (rows) => {
    if (claimant.kind === "worker" && !rows[0]?.worker_found) throw notFound("Worker (register it first)");
    const stored = new Map<string, AgentEvent[]>();
    const claims = rows
      .filter((raw) => raw.id != null)
      .map((raw): Claim => {
        const row = tableRow(tasks, raw);
        ctx.taskCodebases.remember(row.id, row.codebaseId);
        stored.set(row.codebaseId, [...(stored.get(row.codebaseId) ?? []), appendedEvent(raw, row.id)]);
        ctx.metrics.claimWait.observe(Math.max(0, Date.now() - row.runAfter.getTime()) / 1000);
        const agentConfig = codebases.agentConfig.mapFromDriverValue(raw.codebase_agent_config as string) as AgentConfig;
        return {
          task: toTask(row),
          codebase: {
            id: row.codebaseId,
            name: raw.codebase_name as string,
            path: raw.codebase_path as string,
            agent_config: withBudget(agentConfig, ctx.config),
          },
          attempt: row.attempts,
          lease_token: row.leaseToken!,
          lease_seconds: lease,
          diff_max_bytes: ctx.config.worktrees.diffMaxBytes,
          action: row.action ?? null,
        };
      });
    return { result: { claims, draining: Boolean(rows[0]?.worker_draining) }, stored: [...stored] };
  });
  return claimed;
}

/**
 * `claimTasks`, waiting up to `waitMs` for work when there is none: woken by the
 * task hint (see task-wake.ts), looking again each second regardless. Answers
 * nothing when the wait ends, the caller goes away (`signal`) or the server stops.
 * Tasks claimed for a caller that went away meanwhile are handed back before it
 * answers, so nothing waits out a lease nobody holds (and `taskWake.active` counts
 * the claim until they are).
 */
export async function claimTasksWaiting({
  ctx,
  claimant,
  max,
  waitMs,
  signal,
  gone,
  stillThere,
}: {
  ctx: ServiceContext;
  claimant: Claimant;
  max: number;
  waitMs: number;
  signal?: AbortSignal;
  /**
   * Whether the caller's connection is gone already. The request's signal can lag the socket's
   * close by a turn of the event loop; a claim made in that turn must be handed back too.
   */
  gone?: () => boolean;
  /** Asked before each try after the first: false ends the wait (the claimant stopped showing signs of life). */
  stillThere?: () => Promise<boolean>;
}): Promise<Claim[]> {
  const deadline = Date.now() + waitMs;
  const stop = signal ? AbortSignal.any([signal, ctx.shutdown]) : ctx.shutdown;
  const end = ctx.taskWake.begin();
  try {
    for (let tries = 0; ; tries++) {
      if (tries > 0 && (stop.aborted || (stillThere && !(await stillThere())))) return [];
      const mark = ctx.taskWake.mark();
      const { claims, draining } = await claimTasks({ ctx, claimant, max, touch: tries === 0 });
      if (draining) return [];
      if (claims.length > 0) return await unlessGone(ctx, claims, signal, gone, claimant.kind === "worker" ? claimant.name : "the local runner");
      const left = deadline - Date.now();
      if (left <= 0 || stop.aborted) return [];
      await ctx.taskWake.wait(mark, Math.min(left, recheckMs), stop);
    }
  } finally {
    end();
  }
}

/** Hands `claims` back when their caller hung up while they were made; nobody will read the answer. */
async function unlessGone(
  ctx: ServiceContext,
  claims: Claim[],
  signal: AbortSignal | undefined,
  gone: (() => boolean) | undefined,
  who: string,
): Promise<Claim[]> {
  if (!signal) return claims;
  // A hang-up is seen when the event loop polls the caller's socket; an embedded database can answer
  // the whole claim without one poll in between, so give it one before looking.
  await new Promise((resolve) => setImmediate(resolve));
  if (!signal.aborted && !gone?.()) return claims;
  for (const claim of claims)
    await releaseTask({ ctx, taskId: claim.task.id, token: claim.lease_token, reason: `${who} hung up before it got the claim` }).catch(() => {});
  return [];
}

/** How often a waiting claim looks again without a hint (a lost hint, a backoff running out). */
const recheckMs = 1000;
