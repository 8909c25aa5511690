/** Request and response shapes of the codebase verbs (snake_case, as the product page shows). */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { AgentConfig } from "../../contracts/agent-config.js";
import { AbsolutePath, Id, Timestamp } from "../../contracts/fields.js";
import { Usage } from "../usage/usage.types.js";

const CodebaseName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
  .openapi({ example: "my-project" });

export const CreateCodebaseRequest = z
  .object({
    name: CodebaseName,
    path: AbsolutePath.openapi({ example: "/home/user/projects/my-project" }),
    description: z.string().max(2000).optional(),
    worker_id: z.string().min(1).max(200).nullish(),
    agent_config: AgentConfig.optional(),
  })
  .strict()
  .openapi("CreateCodebaseRequest");
export type CreateCodebaseRequest = z.infer<typeof CreateCodebaseRequest>;

export const UpdateCodebaseRequest = z
  .object({
    name: CodebaseName.optional(),
    path: AbsolutePath.optional(),
    description: z.string().max(2000).optional(),
    worker_id: z.string().min(1).max(200).nullable().optional(),
    agent_config: AgentConfig.optional(),
  })
  .strict()
  .openapi("UpdateCodebaseRequest");
export type UpdateCodebaseRequest = z.infer<typeof UpdateCodebaseRequest>;

export const Codebase = z
  .object({
    id: Id,
    name: z.string(),
    path: z.string(),
    description: z.string(),
    worker_id: z.string().nullable(),
    agent_config: AgentConfig,
    usage: Usage.openapi({ description: "What the codebase's runs spent, all time" }),
    isolation: z
      .enum(["worktree", "none"])
      .nullable()
      .openapi({
        description:
          "How its runs work: `worktree` (a git worktree each), `none` (in its directory: not a git repository, or agent_config.isolation none); " +
          "null for a worker's codebase the server has not seen run (the worker decides from its own copy)",
      }),
    runs_in_flight: z.number().int().openapi({ description: "Runs (triggers and tasks) going on it now; agent_config.max_concurrent_runs bounds them" }),
    worktrees: z
      .object({ count: z.number().int(), disk_bytes: z.number().int() })
      .openapi({ description: "Worktrees of its runs kept on disk (on this server's machine and on workers, as measured when each run ended)" }),
    created_by: z.string().nullable().openapi({ description: "The name of the user whose key registered it; null for the built-in key or an open server" }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Codebase");
export type Codebase = z.infer<typeof Codebase>;
