/**
 * `GET /v1/opencode/codebases/{id}/events`: the codebase's agent events as SSE,
 * with `id:` lines, named events, a keep-alive comment, and replay from
 * Last-Event-ID. A client that stops reading is cut off after a while; it
 * loses nothing, since it can resume from the durable log.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { getCodebaseRow } from "../../services/codebases.js";
import type { ServiceContext } from "../../services/context.js";
import { followEvents, parseCursor } from "../../services/events.js";
import { eventTypes } from "../../services/events.types.js";
import { errorResponses, IdParam } from "../openapi.js";

export const keepAliveMs = 15_000;
const writeTimeoutMs = 30_000;
const reconnectDelayMs = 2000;

const route = createRoute({
  method: "get",
  path: "/v1/opencode/codebases/{id}/events",
  operationId: "events.stream",
  tags: ["Events"],
  summary: "Follow the codebase's agent events live (Server-Sent Events)",
  description:
    `Each SSE message has \`event:\` one of ${eventTypes.map((t) => `\`${t}\``).join(", ")}, ` +
    "`id:` its position in the codebase's stream, and `data:` the event's JSON (its fields plus `id`, `type`, `created_at`). " +
    "Reconnect with `Last-Event-ID` (or `?last_event_id=`) to get exactly the events you missed, then live ones. " +
    `A \`: ping\` comment is sent every ${keepAliveMs / 1000} s.`,
  request: {
    params: IdParam,
    query: z.object({
      last_event_id: z.string().optional().openapi({ description: "Same as the Last-Event-ID header; the header wins" }),
      session_id: z.string().optional().openapi({ description: "Only this session's events" }),
    }),
    headers: z.object({ "last-event-id": z.string().optional() }),
  },
  responses: {
    200: {
      description: "An endless text/event-stream",
      content: { "text/event-stream": { schema: z.string().openapi({ example: 'event: output\nid: 7\ndata: {"content":"Hello"}\n\n' }) } },
    },
    ...errorResponses(400, 404),
  },
});

/** Resolves false if `promise` has not settled within `ms`. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function registerEventRoutes(app: OpenAPIHono, ctx: ServiceContext) {
  app.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const query = c.req.valid("query");
    const after = parseCursor(c.req.header("last-event-id") ?? query.last_event_id);
    await getCodebaseRow({ ctx, id });
    c.header("X-Accel-Buffering", "no");
    c.header("X-Content-Type-Options", "nosniff");
    const response = streamSSE(c, async (stream) => {
      const stop = new AbortController();
      const end = () => stop.abort();
      stream.onAbort(end);
      ctx.shutdown.addEventListener("abort", end, { once: true });
      const ping = setInterval(() => {
        void within(stream.write(": ping\n\n"), writeTimeoutMs).then((ok) => ok || end());
      }, keepAliveMs);
      try {
        await stream.write(`retry: ${reconnectDelayMs}\n\n`);
        for await (const event of followEvents(ctx, id, { after, sessionId: query.session_id, signal: stop.signal })) {
          const frame = stream.writeSSE({
            event: event.type,
            id: event.type === "reset" ? undefined : String(event.id),
            data: JSON.stringify({ ...event.data, id: event.id, type: event.type, created_at: event.created_at }),
          });
          if (!(await within(frame, writeTimeoutMs))) break; // too slow: cut it, it can resume
        }
      } finally {
        clearInterval(ping);
        ctx.shutdown.removeEventListener("abort", end);
      }
    });
    // The OpenAPI types expect JSON; this route streams.
    return response as never;
  });
}
