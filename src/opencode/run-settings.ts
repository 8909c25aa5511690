/**
 * The limits one run works under, from its codebase's agent settings: the one
 * place triggers and task attempts (on the server or a worker) take them from.
 */
import type { Config } from "../config.js";
import { type AgentConfig, defaultMaxRetrySeconds } from "../contracts/agent-config.js";
import type { RunSpec } from "./runner.js";

/** What one run may cost: the codebase's `max_cost_usd`, capped by the server-wide CODETETHER_MAX_COST_PER_RUN_USD. */
export function runBudgetUsd(agentConfig: AgentConfig, config: Pick<Config, "maxCostPerRunUsd">): number | undefined {
  const limits = [agentConfig.max_cost_usd, config.maxCostPerRunUsd].filter((n): n is number => n !== undefined);
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** How long a permission request waits for an answer before it is rejected, unless the codebase says otherwise. */
const defaultPermissionTimeoutSeconds = 300;

/**
 * The run's approval, time, step, retry and cost limits. `server` caps the budget
 * with CODETETHER_MAX_COST_PER_RUN_USD; a worker gets the capped budget with its
 * claim already, so it passes none.
 */
export function runLimits(
  agentConfig: AgentConfig,
  server?: Pick<Config, "maxCostPerRunUsd">,
): Pick<RunSpec, "autoApprove" | "permissionTimeoutMs" | "maxIterations" | "maxCostUsd" | "maxRetrySeconds"> {
  return {
    autoApprove: agentConfig.auto_approve ?? false,
    permissionTimeoutMs: (agentConfig.permission_timeout_seconds ?? defaultPermissionTimeoutSeconds) * 1000,
    maxIterations: agentConfig.max_iterations,
    maxCostUsd: server ? runBudgetUsd(agentConfig, server) : agentConfig.max_cost_usd,
    maxRetrySeconds: agentConfig.max_retry_seconds ?? defaultMaxRetrySeconds,
  };
}

/** The directory a codebase's agent works in: its `agent_config.working_directory`, else its path. */
export function workingDirectory(codebase: { path: string; agentConfig?: AgentConfig; agent_config?: Record<string, unknown> }): string {
  const config = (codebase.agentConfig ?? codebase.agent_config ?? {}) as AgentConfig;
  return config.working_directory ?? codebase.path;
}
