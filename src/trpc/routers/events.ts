import { tracked } from "@trpc/server";
import { z } from "zod";
import { getCodebaseRow } from "../../services/codebases.js";
import type { ServiceContext } from "../../services/context.js";
import { followActivity } from "../../services/events/activity.js";
import { admitStream, followEvents, parseCursor } from "../../services/events/follow.js";
import { Id } from "../../services/schemas.js";
import { publicProcedure, router, toTrpcError } from "../init.js";

export const eventsRouter = router({
  /**
   * Which codebases' event streams moved (coalesced, at most four messages a
   * second), so a list can refresh from events rather than by polling.
   */
  onActivity: publicProcedure.subscription(async function* ({ ctx, signal }) {
    const stop = new AbortController();
    const end = () => stop.abort();
    signal?.addEventListener("abort", end, { once: true });
    ctx.services.shutdown.addEventListener("abort", end, { once: true });
    try {
      yield* followActivity(ctx.services, stop.signal);
    } finally {
      signal?.removeEventListener("abort", end);
      ctx.services.shutdown.removeEventListener("abort", end);
    }
  }),
  /**
   * The codebase's agent events, replayed after `lastEventId` then live. Each is
   * `tracked()` with its stream id, so a reconnecting client resumes where it stopped.
   */
  onCodebaseEvents: publicProcedure
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
        yield* follow(ctx.services, input, signal);
      } catch (err) {
        throw toTrpcError(err);
      }
    }),
});

/** The codebase's events after `lastEventId`, tracked, until the client or the server goes away. */
async function* follow(ctx: ServiceContext, input: { codebaseId: string; sessionId?: string; lastEventId?: string | null }, signal?: AbortSignal) {
  const after = parseCursor(input.lastEventId);
  await getCodebaseRow({ ctx, id: input.codebaseId });
  const release = admitStream(ctx);
  const stop = new AbortController();
  const end = () => stop.abort();
  signal?.addEventListener("abort", end, { once: true });
  ctx.shutdown.addEventListener("abort", end, { once: true });
  try {
    for await (const event of followEvents(ctx, input.codebaseId, { after, sessionId: input.sessionId, signal: stop.signal })) {
      yield tracked(String(event.id), event);
    }
  } finally {
    release();
    signal?.removeEventListener("abort", end);
    ctx.shutdown.removeEventListener("abort", end);
  }
}
