/**
 * The limits one run works under, from its codebase's agent settings: the one
 * place triggers and task attempts (on the server or a worker) take them from.
 */
import type { Config } from "../config.js";
import type { AgentConfigColumn } from "../db/schema.js";
import type { RunSpec } from "../opencode/runner.js";
import { runBudgetUsd } from "./usage/budget.js";

/** How long a permission request waits for an answer before it is rejected, unless the codebase says otherwise. */
export const defaultPermissionTimeoutSeconds = 300;

/**
 * The run's approval, time, step, retry and cost limits. `server` caps the budget
 * with CODETETHER_MAX_COST_PER_RUN_USD; a worker gets the capped budget with its
 * claim already, so it passes none.
 */
export function runLimits(
  agentConfig: AgentConfigColumn,
  server?: Pick<Config, "maxCostPerRunUsd">,
): Pick<RunSpec, "autoApprove" | "permissionTimeoutMs" | "maxIterations" | "maxCostUsd" | "maxRetrySeconds"> {
  return {
    autoApprove: agentConfig.auto_approve ?? false,
    permissionTimeoutMs: (agentConfig.permission_timeout_seconds ?? defaultPermissionTimeoutSeconds) * 1000,
    maxIterations: agentConfig.max_iterations,
    maxCostUsd: server ? runBudgetUsd(agentConfig, server) : agentConfig.max_cost_usd,
    maxRetrySeconds: agentConfig.max_retry_seconds,
  };
}
