/**
 * Runs in flight on a codebase: its running sessions (triggers, and task attempts
 * whose session exists) and the running agent tasks whose session does not yet.
 * `agent_config.max_concurrent_runs`, when set, bounds them; triggers and claims both
 * check it. Unset, the runners' own slots (CODETETHER_LOCAL_CONCURRENCY, a worker's
 * --concurrency) are the only bound.
 */
import { inArray, type SQL, sql } from "drizzle-orm";
import type { AgentConfig } from "../../contracts/agent-config.js";
import { conflict } from "../../contracts/errors.js";
import { codebases } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";

/**
 * How many runs are in flight on the codebase named by `codebaseId`: an SQL
 * expression (written out with its table, since drizzle may leave a column
 * unqualified, and inside these subqueries that would name their own) or a value.
 */
export function inFlightSql(codebaseId: SQL | string): SQL<number> {
  return sql<number>`((select count(*) from sessions s where s.codebase_id = ${codebaseId} and s.status = 'running')
    + (select count(*) from tasks t where t.codebase_id = ${codebaseId} and t.status = 'running' and t.kind = 'agent' and t.session_id is null))::int`;
}

/** The claim's candidate task's codebase, qualified (see `inFlightSql`). */
export const candidateCodebase = sql.raw(`"tasks"."codebase_id"`);

/** The codebase's limit, as SQL over `codebases.agent_config` (null: none). */
export const runLimitSql = sql<number | null>`(${codebases.agentConfig}->>'max_concurrent_runs')::int`;

/** Runs in flight per codebase (one query). */
export async function runsInFlight(ctx: ServiceContext, codebaseIds: string[]): Promise<Map<string, number>> {
  if (codebaseIds.length === 0) return new Map();
  const rows = await ctx.database.db
    .select({ id: codebases.id, n: inFlightSql(sql.raw(`"codebases"."id"`)) })
    .from(codebases)
    .where(inArray(codebases.id, codebaseIds));
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

/**
 * A 409 when the codebase has as many runs in flight as it allows. Two servers
 * starting runs at the same instant may both pass it: the limit is a guard, not a lock.
 */
export async function requireRunSlot(ctx: ServiceContext, codebase: { id: string; name: string; agentConfig: AgentConfig }): Promise<void> {
  const limit = codebase.agentConfig.max_concurrent_runs;
  if (limit === undefined) return;
  const running = (await runsInFlight(ctx, [codebase.id])).get(codebase.id) ?? 0;
  if (running >= limit) {
    throw conflict(
      `Codebase "${codebase.name}" has ${running} run(s) in flight, as many as it allows (agent_config.max_concurrent_runs = ${limit}): ` +
        "wait for one to end, abort one, or queue a task",
    );
  }
}
