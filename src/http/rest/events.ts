/**
 * `GET /v1/opencode/codebases/{id}/events`: the codebase's agent events as SSE,
 * with `id:` lines, named events, a keep-alive comment, and replay from
 * Last-Event-ID. A client that stops reading is cut off after a while; it
 * loses nothing, since it can resume from the durable log.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AgentEventSchema, eventMeanings, eventTypes } from "../../contracts/events.js";
import { getCodebaseRow } from "../../services/codebases/codebases.js";
import { admitStream, followEventBatches, parseCursor } from "../../services/events/follow.js";
import { EventHistoryQuery, eventHistory } from "../../services/events/history.js";
import { getTaskRow } from "../../services/tasks/tasks.js";
import { type Api, type AppEnv, apiRoute, IdParam, pagedResponse, pathId, respondPage } from "../openapi.js";
import { respondWithSse } from "../sse-writer.js";
import { EventStreamMessage, toMessage } from "./event-stream.js";

/** How often an idle stream gets a `: ping` comment, so proxies keep it open. */
const keepAliveMs = 15_000;
const writeTimeoutMs = 30_000;
const reconnectDelayMs = 2000;
/**
 * At most this much text per socket write: a follower that is behind gets its
 * backlog in pieces, each written only after the last one drained, so what waits
 * in memory per connection stays bounded.
 */
const maxWriteBytes = 64 * 1024;

const lastEventIdHeader = z.object({
  "last-event-id": z
    .string()
    .optional()
    // Header names are case-insensitive; the validator sees them lower-cased.
    .openapi({
      description: "The SSE `Last-Event-ID` header: the last event id received (a non-negative integer); the stream resumes after it",
      example: "7",
    }),
});

const route = apiRoute(
  {
    method: "get",
    access: "read",
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
      headers: lastEventIdHeader,
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

const taskRoute = apiRoute(
  {
    method: "get",
    access: "read",
    path: "/v1/opencode/tasks/{task_id}/events",
    operationId: "tasks.events",
    tags: ["Tasks"],
    summary: "Follow one task's events across all its attempts (Server-Sent Events)",
    description:
      "The task's events from its codebase's stream, framed as `GET /v1/opencode/codebases/{id}/events` frames them, with the same " +
      "ids: every attempt (claims, runs, requeues, retries) in order, then live. Without a cursor it replays from the task's first " +
      "event; resume with `Last-Event-ID` (or `?last_event_id=`).",
    request: {
      params: z.object({ task_id: pathId("task_id") }),
      query: z.object({
        last_event_id: z.string().optional().openapi({ description: "Resume after this event id; the Last-Event-ID header wins. Absent: from the start" }),
      }),
      headers: lastEventIdHeader,
    },
    responses: {
      200: { description: "An endless Server-Sent Events stream of the task's events", content: { "text/event-stream": { schema: EventStreamMessage } } },
    },
  },
  400,
  404,
);

const historyRoute = apiRoute(
  {
    method: "get",
    access: "read",
    path: "/v1/opencode/codebases/{id}/events/history",
    operationId: "events.history",
    tags: ["Events"],
    summary: "The codebase's stored events as JSON pages, oldest first",
    description: "What the SSE stream would replay, as a list: filter by session or task, and page with `limit` and `cursor`.",
    request: { params: IdParam, query: EventHistoryQuery },
    responses: { 200: pagedResponse(AgentEventSchema, "Events") },
  },
  400,
  404,
);

/** Registers the SSE routes and the events history. */
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
    return streamEvents(c, id, { after, sessionId: query.session_id });
  });
  app.openapi(taskRoute, async (c) => {
    const { ctx } = c.var;
    const task = await getTaskRow({ ctx, id: c.req.valid("param").task_id });
    // A task's history replays from its start unless the client resumes.
    const after = parseCursor(c.req.header("last-event-id") ?? c.req.valid("query").last_event_id) ?? 0;
    return streamEvents(c, task.codebaseId, { after, taskId: task.id });
  });
  app.openapi(historyRoute, async (c) => {
    const query = c.req.valid("query");
    return respondPage(c, await eventHistory({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, query }));
  });
}

/** Answers with an endless SSE stream of `streamId`'s events after `after`, as the route descriptions say. */
function streamEvents(c: Context<AppEnv>, streamId: string, filter: { after: number; sessionId?: string; taskId?: string }): never {
  const { ctx } = c.var;
  const release = admitStream({ ctx });
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
      follow: for await (const batch of followEventBatches({ ctx, streamId, ...filter, signal: stop.signal })) {
        for (const text of joinUpTo(batch.map(toMessage), maxWriteBytes)) {
          if (!(await writer.write(text))) break follow;
        }
      }
    } catch (err) {
      // Nothing awaits a stream's body once its head is sent: a failure here (the database gone while it starts
      // following) would be an unhandled rejection. The stream ends; the client resumes from its Last-Event-ID.
      ctx.log.warn({ err, codebase_id: streamId }, "an event stream ended on an error; its client resumes from its last id");
    } finally {
      release();
      clearInterval(ping);
      writer.closed.removeEventListener("abort", end);
      ctx.shutdown.removeEventListener("abort", end);
    }
  });
  // The route's types only know JSON answers; this one streams.
  return response as never;
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
