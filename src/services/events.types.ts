/**
 * Every event an agent run produces, defined once. The SSE stream, the tRPC
 * subscription, the OpenAPI document and the SDK all take their shapes from here.
 */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";

const base = { session_id: z.string().nullable() };

export const eventSchemas = {
  /** Run state: running, idle, retrying, or a control note (e.g. a task attempt starting). */
  status: z.object({ ...base, status: z.string(), message: z.string().optional(), agent: z.string().optional(), model: z.string().optional(), task_id: z.string().optional(), attempt: z.number().int().optional() }),
  /** Assistant text, streamed as it arrives: append `content` to what came before for the same part. */
  output: z.object({ ...base, message_id: z.string(), part_id: z.string(), content: z.string() }),
  /** Reasoning text, streamed like output. */
  reasoning: z.object({ ...base, message_id: z.string(), part_id: z.string(), content: z.string() }),
  /** A tool call changing state (pending, running, completed, error), with short summaries. */
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
  /** A file the agent created, edited or deleted; the path is relative to the codebase when inside it. */
  file_change: z.object({ ...base, action: z.enum(["created", "edited", "deleted"]), path: z.string() }),
  /** OpenCode asks to do something; answer it through the permissions endpoint before the timeout. */
  permission: z.object({
    ...base,
    permission_id: z.string(),
    permission: z.string(),
    patterns: z.array(z.string()),
    state: z.enum(["asked", "approved", "rejected", "timed_out"]),
    reply: z.string().optional(),
    timeout_seconds: z.number().int().optional(),
  }),
  /** Tokens and cost of one model step, where OpenCode reports them. */
  usage: z.object({
    ...base,
    input_tokens: z.number(),
    output_tokens: z.number(),
    reasoning_tokens: z.number(),
    cache_read_tokens: z.number(),
    cache_write_tokens: z.number(),
    cost: z.number(),
  }),
  /** Something went wrong; a `complete` with status failed or aborted follows when the run ends. */
  error: z.object({ ...base, message: z.string(), name: z.string().optional() }),
  /** The run ended. */
  complete: z.object({
    ...base,
    status: z.enum(["completed", "failed", "aborted", "cancelled"]),
    error: z.string().optional(),
    task_id: z.string().optional(),
  }),
  /** The stream restarted from the beginning because the client's Last-Event-ID is not in this stream. */
  reset: z.object({ ...base, reason: z.string(), head: z.number().int() }),
} as const;

export type EventType = keyof typeof eventSchemas;
export const eventTypes = Object.keys(eventSchemas) as EventType[];
export type EventData<T extends EventType = EventType> = z.infer<(typeof eventSchemas)[T]>;

/** An event before it is stored. */
export type NewEvent = { [T in EventType]: { type: T; data: EventData<T>; taskId?: string | null; attempt?: number; workerSeq?: number } }[EventType];

/** A stored event: `id` is its position in the codebase's stream (1, 2, 3, ...). */
export type AgentEvent = { [T in EventType]: { id: number; type: T; data: EventData<T>; created_at: string } }[EventType];

export const AgentEventSchema = z
  .object({
    id: z.number().int(),
    type: z.enum(eventTypes as [EventType, ...EventType[]]),
    data: z.record(z.string(), z.unknown()),
    created_at: z.string(),
  })
  .openapi("AgentEvent");
