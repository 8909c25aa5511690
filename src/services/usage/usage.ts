/**
 * Reading what runs spent: the running totals of sessions, tasks and codebases,
 * and the report over a time range, which adds up hourly rollups (never events),
 * so it answers as fast with a billion events as with ten.
 */
import { and, eq, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import { usageHourly, usageTotals } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { invalid } from "../errors.js";
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
const defaultRangeMs = 30 * 24 * hourMs;

/** The SQL each dimension groups by, and the field it answers in. */
const dimensionSql: Record<UsageDimension, { expr: SQL; field: string }> = {
  codebase: { expr: sql`${usageHourly.codebaseId}`, field: "codebase_id" },
  model: { expr: sql`${usageHourly.model}`, field: "model" },
  worker: { expr: sql`${usageHourly.worker}`, field: "worker" },
  agent: { expr: sql`${usageHourly.agent}`, field: "agent" },
  day: { expr: sql`to_char(${usageHourly.hour} at time zone 'UTC', 'YYYY-MM-DD')`, field: "day" },
};

/** Totals over [from, to), in whole hours, grouped by the asked dimensions, costliest first. */
export async function usageReport({ ctx, query }: { ctx: ServiceContext; query: UsageQuery }): Promise<UsageReport> {
  const parsed = query;
  const to = Math.ceil((parsed.to ? Date.parse(parsed.to) : Date.now()) / hourMs) * hourMs;
  const from = Math.floor((parsed.from ? Date.parse(parsed.from) : to - defaultRangeMs) / hourMs) * hourMs;
  if (from >= to) throw invalid("from must be before to");
  const dims = parsed.group_by ?? [];
  const where = and(
    gte(usageHourly.hour, new Date(from)),
    lt(usageHourly.hour, new Date(to)),
    parsed.codebase_id ? eq(usageHourly.codebaseId, parsed.codebase_id) : undefined,
  );
  const keys = Object.fromEntries(dims.map((d, i) => [`k${i}`, dimensionSql[d].expr.mapWith(String)]));
  const rows = await ctx.database.db
    .select({
      ...keys,
      inputTokens: sql`sum(${usageHourly.inputTokens})`,
      outputTokens: sql`sum(${usageHourly.outputTokens})`,
      reasoningTokens: sql`sum(${usageHourly.reasoningTokens})`,
      cacheReadTokens: sql`sum(${usageHourly.cacheReadTokens})`,
      cacheWriteTokens: sql`sum(${usageHourly.cacheWriteTokens})`,
      cost: sql`sum(${usageHourly.cost})`,
      steps: sql`sum(${usageHourly.steps})`,
    })
    .from(usageHourly)
    .where(where)
    .groupBy(...dims.map((d) => dimensionSql[d].expr))
    .orderBy(sql`sum(${usageHourly.cost}) desc`, ...dims.map((d) => dimensionSql[d].expr));
  const groups = rows
    .filter((r) => r.steps !== null)
    .map((r) => ({
      ...Object.fromEntries(dims.map((d, i) => [dimensionSql[d].field, (r as Record<string, unknown>)[`k${i}`] as string])),
      ...toUsage(r),
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
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), group_by: dims, groups, total };
}
