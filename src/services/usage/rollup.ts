/**
 * Keeps the usage rollups (`usage_totals`, `usage_hourly`, `usage_daily`) in step
 * with the event log: the append statement itself adds the usage events it stores
 * (see events/append.ts), so totals and events always agree (a retried upload
 * stores nothing twice, so it counts once) at no extra round trip.
 *
 * Each event counts toward its session, its task and its codebase, and toward its
 * hour (and day) × model × agent × runner bucket. Model and agent come from the event (the
 * step's own), else from its session or task; the runner is the task's worker, or
 * `local` for the server's own OpenCode.
 */
import { type SQL, sql } from "drizzle-orm";
import type { AgentEvent } from "../../contracts/events.js";
import type { Db } from "../../db/client.js";

type UsageEvent = Extract<AgentEvent, { type: "usage" }>;

const sums = ["input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "steps"] as const;
const addExcluded = (table: string) => sql.raw(sums.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(", "));

/**
 * The rollup as CTEs of a larger statement (each begins with a comma): `source` selects the usage to count, as
 * columns codebase_id, session_id, task_id, model, agent, input_tokens, output_tokens, reasoning_tokens,
 * cache_read_tokens, cache_write_tokens (bigint), cost (numeric) and at (timestamptz).
 */
export function usageRollupCtes(source: SQL): SQL {
  return sql`, usage_counted as (
      select u.*,
        coalesce(u.model, s.model, t.model, 'unknown') as m,
        coalesce(u.agent, s.agent, t.agent_type, 'unknown') as a,
        coalesce(t.worker_id, 'local') as w,
        -- A session of another codebase is not this event's to count toward (whatever a runner names).
        case when s.id is null or s.codebase_id = u.codebase_id then u.session_id end as counted_session
      from (${source}) u left join sessions s on s.id = u.session_id left join tasks t on t.id = u.task_id
    ), usage_totals_added as (
      insert into usage_totals (scope, id, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps)
      select k.scope, k.id, sum(d.input_tokens), sum(d.output_tokens), sum(d.reasoning_tokens), sum(d.cache_read_tokens),
        sum(d.cache_write_tokens), sum(d.cost), count(*)
      from usage_counted d cross join lateral (values ('session', d.counted_session), ('task', d.task_id), ('codebase', d.codebase_id)) as k(scope, id)
      where k.id is not null
      group by k.scope, k.id
      on conflict (scope, id) do update set ${addExcluded("usage_totals")}
    ), usage_daily_added as (
      insert into usage_daily (day, codebase_id, model, agent, worker, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps)
      select date_trunc('day', d.at, 'UTC'), d.codebase_id, d.m, d.a, d.w, sum(d.input_tokens), sum(d.output_tokens), sum(d.reasoning_tokens),
        sum(d.cache_read_tokens), sum(d.cache_write_tokens), sum(d.cost), count(*)
      from usage_counted d
      group by 1, 2, 3, 4, 5
      on conflict (day, codebase_id, model, agent, worker) do update set ${addExcluded("usage_daily")}
    ), usage_hourly_added as (
      insert into usage_hourly (hour, codebase_id, model, agent, worker, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps)
      select date_trunc('hour', d.at, 'UTC'), d.codebase_id, d.m, d.a, d.w, sum(d.input_tokens), sum(d.output_tokens), sum(d.reasoning_tokens),
        sum(d.cache_read_tokens), sum(d.cache_write_tokens), sum(d.cost), count(*)
      from usage_counted d
      group by 1, 2, 3, 4, 5
      on conflict (hour, codebase_id, model, agent, worker) do update set ${addExcluded("usage_hourly")}
    )`;
}

/** Usage events' columns for `usageRollupCtes`, read from their stored `data` (the append's own rows). */
export const usageColumnsOf = (data: SQL) => sql`
  (${data}->>'model') as model, (${data}->>'agent') as agent,
  (${data}->>'input_tokens')::bigint as input_tokens, (${data}->>'output_tokens')::bigint as output_tokens,
  (${data}->>'reasoning_tokens')::bigint as reasoning_tokens, (${data}->>'cache_read_tokens')::bigint as cache_read_tokens,
  (${data}->>'cache_write_tokens')::bigint as cache_write_tokens, (${data}->>'cost')::numeric as cost`;

/** Counts usage events outside an append, in one statement (the usage report's tests and benchmark fill the rollups this way). */
export async function rollUpUsageInTx(tx: Db, codebaseId: string, events: readonly UsageEvent[]): Promise<void> {
  if (events.length === 0) return;
  const input = events.map((e) => ({ session_id: e.data.session_id, task_id: e.task_id ?? null, data: e.data, at: e.created_at }));
  await tx.execute(sql`
    with given as (select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as u(session_id text, task_id text, data jsonb, at timestamptz))
    ${usageRollupCtes(sql`select ${codebaseId}::text as codebase_id, g.session_id, g.task_id, ${usageColumnsOf(sql`g.data`)}, g.at from given g`)}
    select 1`);
}
