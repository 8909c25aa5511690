/**
 * Reading what runs spent: the running totals of sessions, tasks and codebases,
 * and the report over a time range, which adds up daily and hourly rollups (never
 * events), so its cost follows the range and the groups asked for, not the events.
 */
import { and, eq, inArray, type SQL, sql } from "drizzle-orm";
import { invalid } from "../../contracts/errors.js";
import { rowsOf } from "../../db/client.js";
import { usageTotals } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import type { Usage, UsageDimension, UsageQuery, UsageReport } from "./usage.types.js";

export const noUsage: Usage = {
  input_tokens: 0,
  output_tokens: 0,
  reasoning_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  cost: 0,
  steps: 0,
};

type Scope = "session" | "task" | "codebase";

/** The totals of each id (ids that spent nothing are absent: use `noUsage`). One query for all. */
export async function usageOf(ctx: ServiceContext, scope: Scope, ids: readonly string[]): Promise<Map<string, Usage>> {
  if (ids.length === 0) return new Map();
  const rows = await ctx.database.db
    .select()
    .from(usageTotals)
    .where(and(eq(usageTotals.scope, scope), inArray(usageTotals.id, [...ids])));
  return new Map(rows.map((r) => [r.id, toUsage(r)]));
}

function toUsage(r: {
  inputTokens: unknown;
  outputTokens: unknown;
  reasoningTokens: unknown;
  cacheReadTokens: unknown;
  cacheWriteTokens: unknown;
  cost: unknown;
  steps: unknown;
}): Usage {
  return {
    input_tokens: Number(r.inputTokens),
    output_tokens: Number(r.outputTokens),
    reasoning_tokens: Number(r.reasoningTokens),
    cache_read_tokens: Number(r.cacheReadTokens),
    cache_write_tokens: Number(r.cacheWriteTokens),
    cost: Number(r.cost),
    steps: Number(r.steps),
  };
}

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
const defaultRangeMs = 30 * dayMs;

/** The SQL each dimension groups by (over the rollup rows `u`), and the field it answers in. */
const dimensionSql: Record<UsageDimension, { expr: SQL; field: string }> = {
  codebase: { expr: sql.raw("u.codebase_id"), field: "codebase_id" },
  model: { expr: sql.raw("u.model"), field: "model" },
  worker: { expr: sql.raw("u.worker"), field: "worker" },
  agent: { expr: sql.raw("u.agent"), field: "agent" },
  day: { expr: sql.raw("to_char(u.at at time zone 'UTC', 'YYYY-MM-DD')"), field: "day" },
};

const sumColumns = sql.raw(
  ["input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "steps"]
    .map((c) => `sum(u.${c})::text as ${c}`)
    .join(", "),
);
const rollupColumns = sql.raw(
  "codebase_id, model, agent, worker, input_tokens, output_tokens, reasoning_tokens, cache_read_tokens, cache_write_tokens, cost, steps",
);

/**
 * Totals over [from, to), in whole hours, grouped by the asked dimensions,
 * costliest first. Whole UTC days come from the daily rollup and the hours at
 * either end from the hourly one, so a year costs about as much as a month.
 */
export async function usageReport({ ctx, query }: { ctx: ServiceContext; query: UsageQuery }): Promise<UsageReport> {
  const to = Math.ceil((query.to ? Date.parse(query.to) : Date.now()) / hourMs) * hourMs;
  const from = Math.floor((query.from ? Date.parse(query.from) : to - defaultRangeMs) / hourMs) * hourMs;
  if (from >= to) throw invalid("from must be before to");
  let dayStart = Math.ceil(from / dayMs) * dayMs;
  let dayEnd = Math.floor(to / dayMs) * dayMs;
  if (dayStart >= dayEnd) dayStart = dayEnd = to; // no whole day inside: hours only
  const at = (ms: number) => new Date(ms).toISOString();
  const scope = ctx.caller?.codebases;
  // A key limited to codebases counts theirs alone.
  const codebase = sql.join(
    [
      query.codebase_id ? sql` and codebase_id = ${query.codebase_id}` : sql``,
      scope
        ? scope.length > 0
          ? sql` and codebase_id in (${sql.join(
              scope.map((id) => sql`${id}`),
              sql`, `,
            )})`
          : sql` and false`
        : sql``,
    ],
    sql``,
  );
  const dims = query.group_by ?? [];
  const keys = dims.map((d, i) => sql`${dimensionSql[d].expr} as ${sql.raw(`k${i}`)}`);
  const result = await ctx.database.db.execute(sql`
    select ${sql.join([...keys, sumColumns], sql`, `)}
    from (
      select hour as at, ${rollupColumns} from usage_hourly
      where ((hour >= ${at(from)}::timestamptz and hour < ${at(dayStart)}::timestamptz)
        or (hour >= ${at(dayEnd)}::timestamptz and hour < ${at(to)}::timestamptz))${codebase}
      union all
      select day as at, ${rollupColumns} from usage_daily
      where day >= ${at(dayStart)}::timestamptz and day < ${at(dayEnd)}::timestamptz${codebase}
    ) u
    ${
      dims.length > 0
        ? sql`group by ${sql.join(
            dims.map((d) => dimensionSql[d].expr),
            sql`, `,
          )}`
        : sql``
    }
    order by sum(u.cost) desc nulls last${
      dims.length > 0
        ? sql`, ${sql.join(
            dims.map((d) => dimensionSql[d].expr),
            sql`, `,
          )}`
        : sql``
    }`);
  const rows = rowsOf<Record<string, string | null>>(result);
  const groups = rows
    .filter((r) => r.steps !== null)
    .map((r) => ({
      ...Object.fromEntries(dims.map((d, i) => [dimensionSql[d].field, String(r[`k${i}`])])),
      ...toUsage({
        inputTokens: r.input_tokens,
        outputTokens: r.output_tokens,
        reasoningTokens: r.reasoning_tokens,
        cacheReadTokens: r.cache_read_tokens,
        cacheWriteTokens: r.cache_write_tokens,
        cost: r.cost,
        steps: r.steps,
      }),
    }));
  const total = groups.reduce<Usage>(
    (sum, g) => ({
      input_tokens: sum.input_tokens + g.input_tokens,
      output_tokens: sum.output_tokens + g.output_tokens,
      reasoning_tokens: sum.reasoning_tokens + g.reasoning_tokens,
      cache_read_tokens: sum.cache_read_tokens + g.cache_read_tokens,
      cache_write_tokens: sum.cache_write_tokens + g.cache_write_tokens,
      cost: sum.cost + g.cost,
      steps: sum.steps + g.steps,
    }),
    noUsage,
  );
  return { from: at(from), to: at(to), group_by: dims, groups, total };
}
