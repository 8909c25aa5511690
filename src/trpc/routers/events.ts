import { tracked } from "@trpc/server";
import { z } from "zod";
import { Id } from "../../contracts/fields.js";
import { getCodebaseRow } from "../../services/codebases/codebases.js";
import type { ServiceContext } from "../../services/context.js";
import { followActivity } from "../../services/events/activity.js";
import { admitStream, followEvents, parseCursor } from "../../services/events/follow.js";
import { EventHistoryQuery, eventHistory } from "../../services/events/history.js";
import { readProcedure, router, toTrpcError } from "../init.js";

export const eventsRouter = router({
  /**
   * Which codebases' event streams moved (coalesced, at most four messages a
   * second), so a list can refresh from events rather than by polling.
   */
  onActivity: readProcedure.subscription(async function* ({ ctx, signal }) {
    const stop = new AbortController();
    const end = () => stop.abort();
    signal?.addEventListener("abort", end, { once: true });
    ctx.services.shutdown.addEventListener("abort", end, { once: true });
    try {
      yield* followActivity({ ctx: ctx.services, signal: stop.signal });
    } finally {
      signal?.removeEventListener("abort", end);
      ctx.services.shutdown.removeEventListener("abort", end);
    }
  }),
  /**
   * The codebase's agent events, replayed after `lastEventId` then live. Each is
   * `tracked()` with its stream id, so a reconnecting client resumes where it stopped.
   */
  onCodebaseEvents: readProcedure
    .input(
      z.object({
        codebaseId: Id,
        sessionId: Id.optional(),
        // Declared so tRPC passes the client's last tracked id back on reconnect.
        lastEventId: z.string().nullish(),
      }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      try {
        const after = parseCursor(input.lastEventId);
        await getCodebaseRow({ ctx: ctx.services, id: input.codebaseId });
        yield* followTracked(ctx.services, input.codebaseId, { after, sessionId: input.sessionId }, signal);
      } catch (err) {
        throw toTrpcError(err);
      }
    }),
  /** The codebase's stored events as pages, oldest first, filtered by session or task. */
  history: readProcedure
    .input(EventHistoryQuery.extend({ codebaseId: Id }))
    .query(({ ctx, input: { codebaseId, ...query } }) => eventHistory({ ctx: ctx.services, codebaseId, query })),
});

/** A stream's events after `after` (none: live), tracked, until the client or the server goes away. */
export async function* followTracked(
  ctx: ServiceContext,
  streamId: string,
  options: { after: number | undefined; sessionId?: string; taskId?: string },
  signal?: AbortSignal,
) {
  const release = admitStream({ ctx });
  const stop = new AbortController();
  const end = () => stop.abort();
  signal?.addEventListener("abort", end, { once: true });
  ctx.shutdown.addEventListener("abort", end, { once: true });
  try {
    for await (const event of followEvents({ ctx, streamId, ...options, signal: stop.signal })) {
      yield tracked(String(event.id), event);
    }
  } finally {
    release();
    signal?.removeEventListener("abort", end);
    ctx.shutdown.removeEventListener("abort", end);
  }
}
