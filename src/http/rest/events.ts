/**
 * `GET /v1/opencode/codebases/{id}/events`: the codebase's agent events as SSE,
 * with `id:` lines, named events, a keep-alive comment, and replay from
 * Last-Event-ID. A client that stops reading is cut off after a while; it
 * loses nothing, since it can resume from the durable log.
 */
import { z } from "@hono/zod-openapi";
import { getCodebaseRow } from "../../services/codebases.js";
import { admitStream, followEventBatches, parseCursor } from "../../services/events/follow.js";
import { eventMeanings, eventTypes } from "../../services/events/types.js";
import { type Api, apiRoute, IdParam } from "../openapi.js";
import { respondWithSse } from "../sse-writer.js";
import { EventStreamMessage, toMessage } from "./event-stream.js";

/** How often an idle stream gets a `: ping` comment, so proxies keep it open. */
export const keepAliveMs = 15_000;
const writeTimeoutMs = 30_000;
const reconnectDelayMs = 2000;
/**
 * At most this much text per socket write: a follower that is behind gets its
 * backlog in pieces, each written only after the last one drained, so what waits
 * in memory per connection stays bounded.
 */
const maxWriteBytes = 64 * 1024;

const route = apiRoute(
  {
    method: "get",
    path: "/v1/opencode/codebases/{id}/events",
    operationId: "events.stream",
    tags: ["Events"],
    summary: "Follow the codebase's agent events live (Server-Sent Events)",
    description: [
      "An endless `text/event-stream` (SSE). It opens with `retry: " +
        reconnectDelayMs +
        "`, replays the stored events " +
        "after the cursor, then sends new ones as they are stored. Without a cursor it starts live, at the stream's newest " +
        "event (no history); `last_event_id=0` replays from the beginning. Each message is framed as",
      "",
      "```",
      "event: output",
      "id: 7",
      'data: {"session_id":"ses_1","message_id":"msg_1","part_id":"prt_1","content":"Hello","id":7,"type":"output","created_at":"2026-11-24T12:00:00.000Z"}',
      "",
      "```",
      "",
      "`event:` is the event type, `id:` its position in the codebase's stream and `data:` one line of JSON: " +
        "the event's fields (see the `…Event` schemas) plus `id`, `type` and `created_at`. Event types:",
      "",
      ...eventTypes.map((t) => `- \`${t}\`: ${eventMeanings[t]}`),
      "",
      "Reconnect with the `Last-Event-ID` header (or `?last_event_id=`) set to the last `id:` you saw to get exactly " +
        "the events you missed, then live ones; `session_id` keeps one session's events (ids stay those of the codebase stream). " +
        `A \`: ping\` comment is sent every ${keepAliveMs / 1000} s; a client that stops reading for ${writeTimeoutMs / 1000} s is ` +
        "disconnected and can resume.",
    ].join("\n"),
    request: {
      params: IdParam,
      query: z.object({
        last_event_id: z.string().optional().openapi({
          description: "Resume after this event id (a non-negative integer; 0 replays everything); the Last-Event-ID header wins. Absent: start live",
          example: "7",
        }),
        session_id: z.string().optional().openapi({ description: "Only this session's events" }),
      }),
      headers: z.object({
        "last-event-id": z
          .string()
          .optional()
          // Header names are case-insensitive; the validator sees them lower-cased.
          .openapi({
            description: "The SSE `Last-Event-ID` header: the last event id received (a non-negative integer); the stream resumes after it",
            example: "7",
          }),
      }),
    },
    responses: {
      200: {
        description: "An endless Server-Sent Events stream of the codebase's agent events",
        content: { "text/event-stream": { schema: EventStreamMessage } },
      },
    },
  },
  400,
  404,
);

/** Registers the SSE route. */
export function registerEventRoutes(app: Api) {
  app.openapi(route, async (c) => {
    const { ctx } = c.var;
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    const cursor = parseCursor(c.req.header("last-event-id") ?? query.last_event_id);
    await getCodebaseRow({ ctx, id });
    // No cursor: live from the head as it is now, fixed before the answer starts, so an event
    // stored after the client saw the headers is always delivered.
    const after = cursor ?? (await ctx.events.head(id));
    const release = admitStream(ctx);
    const response = respondWithSse(c, async (writer) => {
      const stop = new AbortController();
      const end = () => stop.abort();
      writer.closed.addEventListener("abort", end, { once: true });
      ctx.shutdown.addEventListener("abort", end, { once: true });
      // One timer per stream, not per write: it pings an idle client and cuts one that stopped reading.
      const ping = setInterval(() => {
        if (writer.blockedForMs() > writeTimeoutMs) {
          end(); // too slow: cut it, it can resume
          writer.end();
        } else if (writer.blockedForMs() === 0) void writer.write(": ping\n\n");
      }, keepAliveMs);
      try {
        await writer.write(`retry: ${reconnectDelayMs}\n\n`);
        follow: for await (const batch of followEventBatches(ctx, id, { after, sessionId: query.session_id, signal: stop.signal })) {
          for (const text of joinUpTo(batch.map(toMessage), maxWriteBytes)) {
            if (!(await writer.write(text))) break follow;
          }
        }
      } finally {
        release();
        clearInterval(ping);
        writer.closed.removeEventListener("abort", end);
        ctx.shutdown.removeEventListener("abort", end);
      }
    });
    // The route's types only know JSON answers; this one streams.
    return response as never;
  });
}

/** The texts joined into as few pieces as fit `max` characters each (a longer text is a piece of its own). */
function joinUpTo(texts: string[], max: number): string[] {
  const pieces: string[] = [];
  let current = "";
  for (const text of texts) {
    if (current && current.length + text.length > max) {
      pieces.push(current);
      current = "";
    }
    current += text;
  }
  if (current) pieces.push(current);
  return pieces;
}
