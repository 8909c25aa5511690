/**
 * Every event an agent run produces, defined once. The SSE stream, the tRPC
 * subscription, the OpenAPI document and the SDK all take their shapes from here.
 */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";

const base = { session_id: z.string().nullable() };
/** Tokens are whole and never negative: they are summed into bigint totals. */
const tokenCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const eventSchemas = {
  status: z.object({
    ...base,
    status: z.string(),
    message: z.string().optional(),
    agent: z.string().optional(),
    model: z.string().optional(),
    task_id: z.string().optional(),
    attempt: z.number().int().optional(),
    next_attempt_at: z.string().optional(),
    run_id: z.string().optional(),
  }),
  output: z.object({ ...base, message_id: z.string(), part_id: z.string(), content: z.string() }),
  reasoning: z.object({ ...base, message_id: z.string(), part_id: z.string(), content: z.string() }),
  tool_use: z.object({
    ...base,
    tool: z.string(),
    call_id: z.string(),
    status: z.enum(["pending", "running", "completed", "error"]),
    title: z.string().optional(),
    input: z.string().optional(),
    output: z.string().optional(),
    error: z.string().optional(),
  }),
  file_change: z.object({ ...base, action: z.enum(["created", "edited", "deleted"]), path: z.string() }),
  permission: z.object({
    ...base,
    permission_id: z.string(),
    permission: z.string(),
    patterns: z.array(z.string()),
    state: z.enum(["asked", "approved", "rejected", "timed_out"]),
    reply: z.string().optional(),
    timeout_seconds: z.number().int().optional(),
  }),
  usage: z.object({
    ...base,
    input_tokens: tokenCount,
    output_tokens: tokenCount,
    reasoning_tokens: tokenCount,
    cache_read_tokens: tokenCount,
    cache_write_tokens: tokenCount,
    cost: z.number().nonnegative().max(1e9),
    model: z.string().max(200).optional(),
    agent: z.string().max(100).optional(),
  }),
  error: z.object({ ...base, message: z.string(), name: z.string().optional(), run_id: z.string().optional() }),
  complete: z.object({
    ...base,
    status: z.enum(["completed", "failed", "aborted", "cancelled"]),
    error: z.string().optional(),
    task_id: z.string().optional(),
    run_id: z.string().optional(),
  }),
  diff: z.object({
    ...base,
    worktree_id: z.string(),
    branch: z.string(),
    base_commit: z.string(),
    head_commit: z.string(),
    files: z.number().int().nonnegative(),
    additions: z.number().int().nonnegative(),
    deletions: z.number().int().nonnegative(),
    truncated: z.boolean(),
    final: z.boolean(),
  }),
  reset: z.object({ ...base, reason: z.string(), head: z.number().int() }),
} as const;

export type EventType = keyof typeof eventSchemas;

/** What each event type means: the documentation of each event, here once (a new type must be described). */
export const eventMeanings: { [T in EventType]: string } = {
  status:
    "Run state: running, idle, retrying (with the provider's `message`, the retry `attempt` and `next_attempt_at`), or a control note (for example a task attempt starting or being released).",
  output: "Assistant text, streamed as it arrives: append `content` to what came before for the same `part_id`.",
  reasoning: "Reasoning text, streamed like output.",
  tool_use: "A tool call changing state (pending, running, completed, error), with short summaries.",
  file_change: "A file the agent created, edited or deleted; the path is relative to the codebase when inside it.",
  permission: "OpenCode asks to do something; answer it with POST .../sessions/{session_id}/permissions/{permission_id} before the timeout.",
  usage: "Tokens and cost (US dollars) of one model step, with the `model` and `agent` that ran it, where OpenCode reports them.",
  error: "Something went wrong; a `complete` with status failed or aborted follows when the run ends.",
  complete: "The run ended.",
  diff:
    "What the run changed in its worktree so far, against its base commit: how many files, lines added and deleted, the worktree's head " +
    "commit. Sent after steps that used tools and, with `final: true`, when a turn ends (after its commit). Read the diff itself with GET …/sessions/{session_id}/diff.",
  reset:
    "The client's Last-Event-ID is beyond this stream's newest event (another database, a reset stream): " +
    "the stream replays from the start. Sent without an `id:` line; its `data.id` is 0.",
};
export const eventTypes = Object.keys(eventSchemas) as EventType[];
export type EventData<T extends EventType = EventType> = z.infer<(typeof eventSchemas)[T]>;

/** An event before it is stored. */
export type NewEvent = { [T in EventType]: { type: T; data: EventData<T>; taskId?: string | null; attempt?: number; workerSeq?: number } }[EventType];

/** A stored event: `id` is its position in the codebase's stream (1, 2, 3, ...). */
export type AgentEvent = {
  [T in EventType]: { id: number; type: T; data: EventData<T>; created_at: string /** Set on the events of a queued task's runs. */; task_id?: string };
}[EventType];

export const AgentEventSchema = z
  .object({
    id: z.number().int(),
    type: z.enum(eventTypes as [EventType, ...EventType[]]),
    data: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi("AgentEvent");

/** Which of a stream's events a reader wants: one session's, one task's (ids stay the stream's). */
export interface EventFilter {
  sessionId?: string;
  taskId?: string;
}
