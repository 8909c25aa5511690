/**
 * What one message of the SSE event stream looks like: how an event is framed
 * (`toFrame`) and the schema the OpenAPI document shows for it, side by side so
 * they cannot disagree. The payloads come from `eventSchemas`.
 */
import { z } from "@hono/zod-openapi";
import { type AgentEvent, type EventType, eventSchemas, eventTypes } from "../../services/events.types.js";
import { Timestamp } from "../../services/schemas.js";

/** An event as `writeSSE` sends it: `event:`, `id:` (none for a reset) and `data:` one line of JSON. */
export function toFrame(event: AgentEvent): { event: string; id: string | undefined; data: string } {
  return {
    event: event.type,
    // A reset is not a position in the stream, so it carries no id a client could resume from.
    id: event.type === "reset" ? undefined : String(event.id),
    data: JSON.stringify({ ...event.data, id: event.id, type: event.type, created_at: event.created_at }),
  };
}

/** What each event type means, for the document (a new type in `eventSchemas` must be described here). */
export const eventMeanings: { [T in EventType]: string } = {
  status: "Run state: running, idle, retrying, or a control note (for example a task attempt starting or being released).",
  output: "Assistant text, streamed as it arrives: append `content` to what came before for the same `part_id`.",
  reasoning: "Reasoning text, streamed like output.",
  tool_use: "A tool call changing state (pending, running, completed, error), with short summaries.",
  file_change: "A file the agent created, edited or deleted; the path is relative to the codebase when inside it.",
  permission:
    "OpenCode asks to do something; answer it with POST .../sessions/{session_id}/permissions/{permission_id} before the timeout.",
  usage: "Tokens and cost of one model step, where OpenCode reports them.",
  error: "Something went wrong; a `complete` with status failed or aborted follows when the run ends.",
  complete: "The run ended.",
  reset:
    "The client's Last-Event-ID is beyond this stream's newest event (another database, a reset stream): " +
    "the stream replays from the start. Sent without an `id:` line; its `data.id` is 0.",
};

const pascal = (type: string) => type.replace(/(?:^|_)([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** One SSE message of each event type, its `data` shown parsed; the payload schemas come from `eventSchemas`. */
const messages = eventTypes.map((type) => {
  const data = eventSchemas[type]
    .extend({
      id: z.number().int().openapi({ description: "Position in the codebase's event stream (1, 2, 3, ...)" }),
      type: z.literal(type),
      created_at: Timestamp,
    })
    .openapi(`${pascal(type)}Event`, { description: eventMeanings[type] });
  return z
    .object({
      event: z.literal(type),
      ...(type === "reset" ? {} : { id: z.string().openapi({ description: "`data.id` as text: the Last-Event-ID to resume after", example: "7" }) }),
      data,
    })
    .openapi({ description: eventMeanings[type] });
});

/** One message of the stream, one variant per event type. */
export const EventStreamMessage = z
  .discriminatedUnion("event", messages as unknown as [(typeof messages)[number], ...(typeof messages)[number][]])
  .openapi("EventStreamMessage", {
    description:
      "One message of the event stream. On the wire it is `event: <type>`, `id: <n>` and `data: <one line of JSON>` lines " +
      "followed by a blank line; this schema shows that message with `data` parsed.",
  });
