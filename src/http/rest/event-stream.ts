/**
 * What one message of the SSE event stream looks like: how an event is framed
 * (`toFrame`) and the schema the OpenAPI document shows for it, side by side so
 * they cannot disagree. The payloads come from `eventSchemas`.
 */
import { z } from "@hono/zod-openapi";
import { type AgentEvent, eventMeanings, eventSchemas, eventTypes } from "../../contracts/events.js";
import { Timestamp } from "../../contracts/fields.js";

/** An event as one SSE message: `event:`, `id:` (none for a reset) and `data:` one line of JSON (`http/sse-writer.ts` writes it). */
export function toFrame(event: AgentEvent): { event: string; id: string | undefined; data: string } {
  return {
    event: event.type,
    // A reset is not a position in the stream, so it carries no id a client could resume from.
    id: event.type === "reset" ? undefined : String(event.id),
    // Object.assign, not spread syntax: the same keys in the same order, and about eight times faster on this path
    // (every event a process delivers), where a spread of a conditional object left V8 building slow objects.
    data: JSON.stringify(
      Object.assign(event.task_id ? { task_id: event.task_id } : {}, event.data, { id: event.id, type: event.type, created_at: event.created_at }),
    ),
  };
}

/**
 * The event's whole SSE message as text, made once per event and process: every
 * follower of a stream shares the window's event objects, so a hundred followers
 * cost one JSON.stringify, not a hundred.
 */
const messageText = new WeakMap<AgentEvent, string>();
export function toMessage(event: AgentEvent): string {
  let text = messageText.get(event);
  if (text === undefined) {
    const frame = toFrame(event);
    text = `event: ${frame.event}\n${frame.id === undefined ? "" : `id: ${frame.id}\n`}data: ${frame.data}\n\n`;
    messageText.set(event, text);
  }
  return text;
}

const pascal = (type: string) => type.replace(/(?:^|_)([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** One SSE message of each event type, its `data` shown parsed; the payload schemas come from `eventSchemas`. */
const messages = eventTypes.map((type) => {
  const data = eventSchemas[type]
    .extend({
      id: z.number().int().openapi({ description: "Position in the codebase's event stream (1, 2, 3, ...)" }),
      type: z.literal(type),
      created_at: Timestamp,
      task_id: z.string().optional().openapi({ description: "Set on every event of a queued task's runs" }),
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
