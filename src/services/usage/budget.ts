/** What one run may cost: the codebase's `max_cost_usd`, capped by the server-wide CODETETHER_MAX_COST_PER_RUN_USD. */
import type { Config } from "../../config.js";
import type { AgentConfigColumn } from "../../db/schema.js";

export function runBudgetUsd(agentConfig: AgentConfigColumn, config: Pick<Config, "maxCostPerRunUsd">): number | undefined {
  const limits = [agentConfig.max_cost_usd, config.maxCostPerRunUsd].filter((n): n is number => n !== undefined);
  return limits.length > 0 ? Math.min(...limits) : undefined;
}
