/** Request and response shapes of triggering agents and managing sessions. */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { AgentName, Id, ModelId, Timestamp } from "../../contracts/fields.js";
import { PageQuery, pageOf } from "../paging.js";
import { Usage } from "../usage/usage.types.js";
import { BaseRef, Isolation, WorktreeSummary } from "../worktrees/worktrees.types.js";

export const TriggerRequest = z
  .object({
    prompt: z
      .string()
      .max(100_000)
      .refine((p) => p.trim().length > 0, "prompt must not be empty")
      .openapi({ example: "Add comprehensive error handling to the API routes" }),
    agent: AgentName.optional().openapi({ description: "Default: the codebase's agent_config.default_agent, else build" }),
    model: ModelId.optional().openapi({ description: "Default: the codebase's agent_config.default_model, else OpenCode's own default" }),
    session_id: Id.optional().openapi({ description: "Resume this session" }),
    new_session: z.boolean().optional().openapi({ description: "Start a new session even if one could be resumed" }),
    title: z.string().max(200).optional(),
    base_ref: BaseRef.optional(),
    queue: z
      .boolean()
      .optional()
      .openapi({
        description:
          "When the session to resume is running: queue this prompt as its next turn (202, status `queued`) instead of answering 409. " +
          "Queued prompts run in order, survive a restart, and are cancelled when the session is aborted",
      }),
  })
  .strict()
  .openapi("TriggerRequest");
export type TriggerRequest = z.infer<typeof TriggerRequest>;

export const TriggerResponse = z
  .object({
    session_id: z
      .string()
      .nullable()
      .openapi({
        description:
          "The OpenCode session. Null only when the run is `starting` in a new session: OpenCode is still booting and names it " +
          "when it is up; the run's first `status` event carries it, with this answer's `run_id`",
      }),
    run_id: z.string().openapi({ description: "This trigger's id; the run's first `status` event (and a failure to start) carry it" }),
    codebase_id: z.string(),
    status: z.enum(["running", "starting"]).openapi({ description: "`starting`: accepted while OpenCode boots; the run begins when it is ready" }),
    resumed: z.boolean(),
    agent: AgentName,
    model: z.string().nullable(),
    /** Follow from here: send this as Last-Event-ID to get only this run's events. */
    last_event_id: z.number().int(),
    events_url: z.string(),
    session_url: z.string().nullable(),
    isolation: Isolation,
    isolation_reason: z
      .string()
      .nullable()
      .openapi({ description: "Why the run has no worktree (not a git repository, isolation turned off); null when it has one" }),
    worktree: z
      .object({ id: z.string(), branch: z.string(), base_ref: z.string(), base_commit: z.string(), path: z.string() })
      .nullable()
      .openapi({ description: "The run's worktree: its branch, the commit it started from and its directory; null without isolation" }),
    diff_url: z.string().nullable().openapi({ description: "Where the run's diff can be read (GET); null without isolation or before the session is named" }),
  })
  .openapi("TriggerResponse");
export type TriggerResponse = z.infer<typeof TriggerResponse>;

const SessionStatus = z.enum(["idle", "running", "completed", "failed", "aborted"]).openapi("SessionStatus");

export const Session = z
  .object({
    id: z.string(),
    codebase_id: z.string(),
    title: z.string(),
    agent: z.string().nullable(),
    model: z.string().nullable(),
    status: SessionStatus,
    source: z.enum(["codetether", "imported"]),
    error: z.string().nullable(),
    message_count: z.number().int(),
    cost: z.number().openapi({ description: "US dollars, summed over the session's stored messages" }),
    usage: Usage.openapi({ description: "Totals of the session's usage events, kept as its runs go" }),
    worktree: WorktreeSummary.nullable().openapi({ description: "The session's worktree and what it changed; null when it ran without isolation" }),
    created_by: z
      .string()
      .nullable()
      .openapi({ description: "The name of the user whose key triggered it; null for the built-in key, an open server, a task's or an import" }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Session");
export type Session = z.infer<typeof Session>;

export const ListSessionsQuery = PageQuery.extend({
  q: z.string().max(200).optional().openapi({ description: "Only sessions whose title has these words (each word may be a prefix)" }),
});
export type ListSessionsQuery = z.infer<typeof ListSessionsQuery>;
export const ListAllSessionsQuery = ListSessionsQuery.extend({
  codebase_id: Id.optional().openapi({ description: "Only this codebase's sessions" }),
  status: SessionStatus.optional(),
});
export type ListAllSessionsQuery = z.infer<typeof ListAllSessionsQuery>;
export const SessionPage = pageOf(Session, "SessionPage");
export type SessionPage = z.infer<typeof SessionPage>;

export const Message = z
  .object({
    id: z.string(),
    role: z.string(),
    text: z.string(),
    parts: z.array(z.unknown()),
    tokens: z.record(z.string(), z.unknown()).nullable(),
    cost: z.number().nullable(),
    created_at: Timestamp,
  })
  .openapi("Message");
export type Message = z.infer<typeof Message>;

const QueuedPromptStatus = z
  .enum(["queued", "starting", "started", "failed", "cancelled"])
  .openapi("QueuedPromptStatus", { description: "`failed`: it could not start (`error` says why); `cancelled`: the session was aborted first" });

export const QueuedPrompt = z
  .object({
    id: z.string(),
    session_id: z.string(),
    codebase_id: z.string(),
    prompt: z.string(),
    agent: z.string().nullable().openapi({ description: "null: the session's agent" }),
    model: z.string().nullable().openapi({ description: "null: the codebase's default model" }),
    status: QueuedPromptStatus,
    run_id: z.string().openapi({ description: "The run it becomes: its `status` and `complete` events carry this id" }),
    error: z.string().nullable(),
    created_by: z.string().nullable(),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
  })
  .openapi("QueuedPrompt");
export type QueuedPrompt = z.infer<typeof QueuedPrompt>;

export const SessionDetail = Session.extend({
  messages: z.array(Message).openapi({ description: "The transcript, oldest first: all of it, or its newest 1,000 messages / 4 MiB when longer" }),
  messages_truncated: z.boolean().openapi({ description: "True when older messages were left out: GET …/sessions/{session_id}/messages pages through all" }),
  queued: z.array(QueuedPrompt).openapi({ description: "Follow-up prompts waiting to run as its next turns, in order" }),
}).openapi("SessionDetail");
export type SessionDetail = z.infer<typeof SessionDetail>;

export const SyncResult = z
  .object({ imported: z.number().int(), updated: z.number().int(), unchanged: z.number().int(), sessions: z.array(Session) })
  .openapi("SyncResult");
export type SyncResult = z.infer<typeof SyncResult>;

export const PermissionAnswer = z
  .object({ reply: z.enum(["once", "always", "reject"]) })
  .strict()
  .openapi("PermissionAnswer");
export type PermissionAnswer = z.infer<typeof PermissionAnswer>;

export const QueuedTriggerResponse = z
  .object({
    status: z.literal("queued").openapi({ description: "The session is running: this prompt runs as its next turn when the current one ends" }),
    session_id: z.string(),
    run_id: z.string(),
    codebase_id: z.string(),
    position: z.number().int().openapi({ description: "1: next; 2: after the next; …" }),
    queued_prompt: QueuedPrompt,
    last_event_id: z.number().int().openapi({ description: "The stream's head when it was queued: follow from here for its run (by `run_id`)" }),
    events_url: z.string(),
    session_url: z.string(),
    queue_url: z.string().openapi({ description: "The session's queue: list it, edit or remove a prompt before it starts" }),
  })
  .openapi("QueuedTriggerResponse");
export type QueuedTriggerResponse = z.infer<typeof QueuedTriggerResponse>;

export const TriggerAnswer = z.union([TriggerResponse, QueuedTriggerResponse]).openapi("TriggerAnswer");
export type TriggerAnswer = z.infer<typeof TriggerAnswer>;

export const EditQueuedPrompt = z
  .object({
    prompt: TriggerRequest.shape.prompt.optional(),
    agent: AgentName.nullable().optional(),
    model: ModelId.nullable().optional(),
  })
  .strict()
  .refine((e) => Object.keys(e).length > 0, "give prompt, agent or model")
  .openapi("EditQueuedPrompt");
export type EditQueuedPrompt = z.infer<typeof EditQueuedPrompt>;
