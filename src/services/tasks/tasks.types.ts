/** Request and response shapes of the task queue and the worker protocol. */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { AbsolutePath, AgentName, Id, ModelId, Timestamp } from "../../contracts/fields.js";
import { RunnerModels } from "../../contracts/models.js";
import { PageQuery, pageOf } from "../paging.js";
import { Usage } from "../usage/usage.types.js";
import { BaseRef, WorktreeSummary } from "../worktrees/worktrees.types.js";

const taskStatuses = ["pending", "running", "completed", "failed", "cancelled"] as const;
export const TaskStatus = z.enum(taskStatuses).openapi("TaskStatus");
export type TaskStatus = z.infer<typeof TaskStatus>;

export const defaultMaxAttempts = 3;

/** The name the server's own runner goes by, where a worker's name would be (a task's worker_id, a worktree's runner). */
export const localRunnerName = "local";

export const CreateTaskRequest = z
  .object({
    title: z.string().trim().min(1, "title must not be empty").max(200),
    prompt: z
      .string()
      .max(100_000)
      .refine((p) => p.trim().length > 0, "prompt must not be empty"),
    agent_type: AgentName.optional().openapi({ description: "Default: the codebase's default agent, else build" }),
    priority: z.number().int().min(-1000).max(1000).optional().openapi({ description: "Larger runs first (default 0); equal priorities run oldest first" }),
    model: ModelId.optional(),
    max_attempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .optional()
      .openapi({ description: `Default ${defaultMaxAttempts}` }),
    base_ref: BaseRef.optional(),
  })
  .strict()
  .openapi("CreateTaskRequest");

export const RetryTaskRequest = z
  .object({
    attempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .optional()
      .openapi({ description: `How many more attempts it gets (default ${defaultMaxAttempts}); max_attempts grows by this much` }),
  })
  .strict()
  .openapi("RetryTaskRequest");
export type RetryTaskRequest = z.infer<typeof RetryTaskRequest>;
export type CreateTaskRequest = z.infer<typeof CreateTaskRequest>;

export const CreateTasksRequest = z
  .object({ tasks: z.array(CreateTaskRequest).min(1, "give at least one task").max(500) })
  .strict()
  .openapi("CreateTasksRequest");
export type CreateTasksRequest = z.infer<typeof CreateTasksRequest>;

/** One lost attempt: which runner had it and why it was taken back (e.g. `lease_expired`). */
const AttemptError = z.object({ attempt: z.number().int(), worker_id: z.string().nullable(), reason: z.string(), at: Timestamp }).openapi("AttemptError");

export const Task = z
  .object({
    id: z.string(),
    codebase_id: z.string(),
    title: z.string(),
    prompt: z.string(),
    agent_type: z.string(),
    model: z.string().nullable(),
    priority: z.number().int(),
    status: TaskStatus,
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    worker_id: z.string().nullable().openapi({ description: "Who ran (or runs) it: a worker name, or `local` for the server's own runner" }),
    session_id: z.string().nullable(),
    result: z.string().nullable(),
    error: z.string().nullable(),
    attempt_errors: z.array(AttemptError),
    cancel_requested: z.boolean(),
    kind: z.enum(["agent", "apply", "discard", "push"]).openapi({
      description: "`agent`: a prompt for an agent; `apply`, `discard`, `push`: work on a run's worktree that lives on a worker, queued for it by those verbs",
    }),
    base_ref: z.string().nullable().openapi({ description: "The git ref its worktree starts from; null: the codebase's HEAD when it runs" }),
    worktree: WorktreeSummary.nullable()
      .optional()
      .openapi({ description: "The worktree of its latest attempt and what it changed; null without isolation (not in the worker protocol's answers)" }),
    usage: Usage.optional().openapi({
      description: "Totals of the task's usage events over all its attempts; in every answer to clients (not in the worker protocol's)",
    }),
    created_by: z.string().nullable().openapi({ description: "The name of the user whose key queued it; null for the built-in key or an open server" }),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
    updated_at: Timestamp,
  })
  .openapi("Task");
export type Task = z.infer<typeof Task>;

export const CreatedTasks = z.object({ tasks: z.array(Task) }).openapi("CreatedTasks");

export const ListTasksQuery = PageQuery.extend({
  status: TaskStatus.optional(),
  codebase_id: Id.optional(),
  worker_id: Id.optional(),
  q: z.string().max(200).optional().openapi({ description: "Only tasks whose title or prompt has these words (each word may be a prefix)" }),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;
export const TaskPage = pageOf(Task, "TaskPage");
export type TaskPage = z.infer<typeof TaskPage>;

const WorkerCodebase = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "codebase name must be 1-100 letters, digits, '.', '_' or '-'"),
    path: AbsolutePath.openapi({ description: "Absolute, normalized path on the worker's machine" }),
  })
  .openapi("WorkerCodebase");

export const RegisterWorkerRequest = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "name must be 1-100 letters, digits, '.', '_' or '-'"),
    codebases: z.array(WorkerCodebase).max(1000),
    concurrency: z.number().int().min(1).max(256).optional(),
    models: RunnerModels.optional().openapi({ description: "What the worker's OpenCode can run (its configured providers' models)" }),
  })
  .strict()
  .openapi("RegisterWorkerRequest");
export type RegisterWorkerRequest = z.infer<typeof RegisterWorkerRequest>;

export const Worker = z
  .object({
    name: z.string(),
    codebases: z.array(WorkerCodebase),
    concurrency: z.number().int(),
    status: z.enum(["online", "offline"]),
    draining: z.boolean(),
    last_heartbeat_at: Timestamp.nullable(),
    running_tasks: z.number().int(),
    models: z.array(z.string()).nullable().openapi({ description: "Ids of the models it can run; null until it reported them" }),
    created_at: Timestamp,
  })
  .openapi("Worker");
export type Worker = z.infer<typeof Worker>;

/**
 * Who is claiming: the server's own runner, or a named worker with the codebases it has.
 * `models` are the models it can run (null: not known, so any task's model is tried).
 */
/** Who claims: the server's own runner (with the models its OpenCode runs, null: unknown), or a registered worker (its codebases and models are its row's). */
export type Claimant = { kind: "local"; models: string[] | null } | { kind: "worker"; name: string };

/** What a claim hands a runner: the task, where it runs, and the lease to quote in every report. */
export const Claim = z
  .object({
    task: Task,
    codebase: z.object({ id: z.string(), name: z.string(), path: z.string(), agent_config: z.record(z.string(), z.unknown()) }),
    attempt: z.number().int(),
    lease_token: z.string(),
    lease_seconds: z.number().int(),
    diff_max_bytes: z
      .number()
      .int()
      .openapi({ description: "Bytes of patch the server stores per diff (CODETETHER_DIFF_MAX_BYTES): a runner cuts its diffs there" }),
    action: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "For a task of kind apply, discard or push: what to do (`op`, `worktree_id`, `mode`, `remote`)" }),
  })
  .openapi("Claim");
export type Claim = z.infer<typeof Claim>;

export const LeaseRef = z.object({ lease_token: z.string().min(1).max(200) }).strict();

export const UploadEventsRequest = z
  .object({
    lease_token: z.string().min(1).max(200),
    events: z
      .array(
        z.object({
          seq: z.number().int().min(1),
          type: z.string().min(1).max(40),
          data: z.record(z.string(), z.unknown()),
        }),
      )
      .max(1000),
  })
  .strict()
  .openapi("UploadEventsRequest");
export type UploadEventsRequest = z.infer<typeof UploadEventsRequest>;

/** One message as OpenCode's `GET /session/{id}/message` lists it (only what is stored is checked). */
const UploadedMessage = z
  .object({
    info: z
      .object({
        id: Id,
        sessionID: Id,
        role: z.enum(["user", "assistant"]),
        time: z
          .object({
            created: z
              .number()
              .int()
              .min(0)
              .max(Date.UTC(9999, 11, 31))
              .openapi({ description: "Milliseconds since 1970" }),
          })
          .passthrough(),
        cost: z.number().optional(),
        tokens: z.record(z.string(), z.unknown()).optional(),
      })
      .passthrough(),
    parts: z.array(z.record(z.string(), z.unknown())).max(10_000),
  })
  .openapi("UploadedMessage");

export const UploadMessagesRequest = z
  .object({
    lease_token: z.string().min(1).max(200),
    session_id: Id,
    messages: z.array(UploadedMessage).max(200),
  })
  .strict()
  .openapi("UploadMessagesRequest");
export type UploadMessagesRequest = z.infer<typeof UploadMessagesRequest>;

export const CompleteTaskRequest = z
  .object({
    lease_token: z.string().min(1).max(200),
    status: z.enum(["completed", "failed", "cancelled"]),
    result: z.string().max(100_000).optional(),
    error: z.string().max(10_000).optional(),
    session_id: z.string().max(200).optional(),
  })
  .strict()
  .openapi("CompleteTaskRequest");
export type CompleteTaskRequest = z.infer<typeof CompleteTaskRequest>;

export const CompleteManyRequest = z
  .object({
    completions: z
      .array(CompleteTaskRequest.extend({ task_id: z.string().min(1).max(200) }).strict())
      .min(1)
      .max(100),
  })
  .strict()
  .openapi("CompleteManyRequest");
export type CompleteManyRequest = z.infer<typeof CompleteManyRequest>;

export const CompletionResult = z
  .discriminatedUnion("ok", [
    z.object({ task_id: z.string(), ok: z.literal(true), task: Task }),
    z.object({
      task_id: z.string(),
      ok: z.literal(false),
      error: z.enum(["lease_lost", "conflict", "not_found"]).openapi({
        description: "lease_lost: the lease is not current (stop working on the task); conflict: the task ended otherwise; not_found: no such task",
      }),
      detail: z.string(),
    }),
  ])
  .openapi("CompletionResult");
export type CompletionResult = z.infer<typeof CompletionResult>;

export const CompleteManyResponse = z.object({ results: z.array(CompletionResult) }).openapi("CompleteManyResponse");
export const ClaimManyResponse = z.object({ claims: z.array(Claim) }).openapi("ClaimManyResponse");
export const WorkerHeartbeatResponse = z.object({ ok: z.literal(true) }).openapi("WorkerHeartbeatResponse");

/** A claim may wait this long for work at most (a long poll that proxies and clients keep open). */
const maxClaimWaitSeconds = 30;
/** Tasks one batch claim takes at most. */
const maxClaimsPerCall = 32;
const WaitSeconds = z
  .number()
  .min(0)
  .max(maxClaimWaitSeconds)
  .optional()
  .openapi({ description: `Wait up to this many seconds (0-${maxClaimWaitSeconds}) for a task when there is none; default 0` });
const WorkerName = z.object({ name: RegisterWorkerRequest.shape.name });

export const WorkerHeartbeatRequest = WorkerName.extend({
  draining: z.boolean().optional(),
  models: RunnerModels.optional().openapi({ description: "Sent when what the worker's OpenCode can run changed" }),
})
  .strict()
  .openapi("WorkerHeartbeatRequest");
export const ClaimRequest = WorkerName.extend({ wait_seconds: WaitSeconds }).strict().openapi("ClaimRequest");
export const ClaimManyRequest = WorkerName.extend({
  max_tasks: z
    .number()
    .int()
    .min(1)
    .max(maxClaimsPerCall)
    .openapi({ description: `How many tasks at most (1-${maxClaimsPerCall})` }),
  wait_seconds: WaitSeconds,
})
  .strict()
  .openapi("ClaimManyRequest");
export const ReleaseTaskRequest = LeaseRef.extend({ reason: z.string().max(500).optional() }).openapi("ReleaseTaskRequest");
export const TaskHeartbeatResponse = z.object({ cancel_requested: z.boolean(), lease_seconds: z.number().int() }).openapi("TaskHeartbeatResponse");
export const UploadMessagesResponse = z.object({ stored: z.number().int(), message_count: z.number().int() }).openapi("UploadMessagesResponse");
export const UploadEventsResponse = z.object({ acked_through: z.number().int(), stored: z.number().int() }).openapi("UploadEventsResponse");
