/**
 * Keeps the usage rollups (`usage_totals`, `usage_hourly`) in step with the
 * event log: called by the append, inside its transaction, with the usage events
 * it stored, so totals and events always agree (a retried upload stores nothing
 * twice, so it counts once). One statement, and only when a batch holds usage.
 *
 * Each event counts toward its session, its task and its codebase, and toward its
 * hour (and day) × model × agent × runner bucket. Model and agent come from the event (the
 * step's own), else from its session or task; the runner is the task's worker, or
 * `local` for the server's own OpenCode.
 */
import { sql } from "drizzle-orm";
import type { AgentEvent } from "../../contracts/events.js";
import type { Db } from "../../db/client.js";

type UsageEvent = Extract<AgentEvent, { type: "usage" }>;

const sums = ["input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "steps"] as const;
const addExcluded = (table: string) => sql.raw(sums.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(", "));

export async function rollUpUsageInTx(tx: Db, codebaseId: string, events: readonly UsageEvent[]): Promise<void> {
  if (events.length === 0) return;
  const input = events.map((e) => ({
    session_id: e.data.session_id,
    task_id: e.task_id ?? null,
    model: e.data.model ?? null,
    agent: e.data.agent ?? null,
    input_tokens: e.data.input_tokens,
    output_tokens: e.data.output_tokens,
    reasoning_tokens: e.data.reasoning_tokens,
    cache_read_tokens: e.data.cache_read_tokens,
    cache_write_tokens: e.data.cache_write_tokens,
    cost: e.data.cost,
    at: e.created_at,
  }));
  await tx.execute(sql`
    with u as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as u(
        session_id text, task_id text, model text, agent text, input_tokens bigint, output_tokens bigint,
        reasoning_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint, cost numeric, at timestamptz)
    ), d as (
      select u.*,
        coalesce(u.model, s.model, t.model, 'unknown') as m,
        coalesce(u.agent, s.agent, t.agent_type, 'unknown') as a,
        coalesce(t.worker_id, 'local') as w,
        -- A session of another codebase is not this event's to count toward (whatever a runner names).
        case when s.id is null or s.codebase_id = ${codebaseId} then u.session_id end as counted_session
      from u left join sessions s on s.id = u.session_id left join tasks t on t.id = u.task_id
    ), totals as (
      insert into usage_totals (scope, id, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps)
      select k.scope, k.id, sum(d.input_tokens), sum(d.output_tokens), sum(d.reasoning_tokens), sum(d.cache_read_tokens),
        sum(d.cache_write_tokens), sum(d.cost), count(*)
      from d cross join lateral (values ('session', d.counted_session), ('task', d.task_id), ('codebase', ${codebaseId}::text)) as k(scope, id)
      where k.id is not null
      group by k.scope, k.id
      on conflict (scope, id) do update set ${addExcluded("usage_totals")}
    ), daily as (
      insert into usage_daily (day, codebase_id, model, agent, worker, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps)
      select date_trunc('day', d.at, 'UTC'), ${codebaseId}, d.m, d.a, d.w, sum(d.input_tokens), sum(d.output_tokens), sum(d.reasoning_tokens),
        sum(d.cache_read_tokens), sum(d.cache_write_tokens), sum(d.cost), count(*)
      from d
      group by 1, 3, 4, 5
      on conflict (day, codebase_id, model, agent, worker) do update set ${addExcluded("usage_daily")}
    )
    insert into usage_hourly (hour, codebase_id, model, agent, worker, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps)
    select date_trunc('hour', d.at, 'UTC'), ${codebaseId}, d.m, d.a, d.w, sum(d.input_tokens), sum(d.output_tokens), sum(d.reasoning_tokens),
      sum(d.cache_read_tokens), sum(d.cache_write_tokens), sum(d.cost), count(*)
    from d
    group by 1, 3, 4, 5
    on conflict (hour, codebase_id, model, agent, worker) do update set ${addExcluded("usage_hourly")}`);
}
