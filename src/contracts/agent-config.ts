/**
 * The agent settings a codebase carries (`agent_config`): validated by this schema where a request sets them, and
 * the type of the column that stores them (db/schema.ts), so the two cannot drift apart.
 */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { AbsolutePath, AgentName, ModelId } from "./fields.js";

/** How long the provider may keep failing (OpenCode retrying) before the run fails, unless the codebase says otherwise. */
export const defaultMaxRetrySeconds = 120;

export const AgentConfig = z
  .object({
    default_model: ModelId.optional(),
    default_agent: AgentName.optional(),
    auto_approve: z.boolean().optional(),
    max_iterations: z.number().int().min(1).max(10_000).optional(),
    max_retry_seconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .optional()
      .openapi({
        description: `How long a run may wait on a failing model provider (OpenCode retrying) before it fails; default ${defaultMaxRetrySeconds}`,
      }),
    working_directory: AbsolutePath.optional(),
    max_cost_usd: z
      .number()
      .positive()
      .max(1_000_000)
      .optional()
      .openapi({ description: "US dollars one run may cost; a run that passes it is stopped and fails with an `error` named BudgetExceeded" }),
    permission_timeout_seconds: z.number().int().min(1).max(86_400).optional(),
    isolation: z
      .enum(["worktree", "none"])
      .optional()
      .openapi({
        description:
          "`worktree` (the default for git repositories): each run works in a git worktree of its own, on its own branch, and its diff is the result; " +
          "`none` (the default otherwise): runs work in the codebase's directory itself",
      }),
    max_concurrent_runs: z.number().int().min(1).max(64).optional().openapi({
      description:
        "Runs (triggers and tasks) in flight on the codebase at once, each in its own worktree: a trigger past it is a 409, a task waits. Unset: no limit beyond the runners' own slots",
    }),
  })
  .strict()
  .openapi("AgentConfig");
export type AgentConfig = z.infer<typeof AgentConfig>;
