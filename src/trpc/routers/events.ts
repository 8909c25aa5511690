import { tracked } from "@trpc/server";
import { z } from "zod";
import { getCodebaseRow } from "../../services/codebases.js";
import { followEvents, parseCursor } from "../../services/events.js";
import { Id } from "../../services/schemas.js";
import { publicProcedure, router } from "../init.js";

export const eventsRouter = router({
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
      const after = parseCursor(input.lastEventId);
      await getCodebaseRow({ ctx: ctx.services, id: input.codebaseId });
      const stop = new AbortController();
      const end = () => stop.abort();
      signal?.addEventListener("abort", end, { once: true });
      ctx.services.shutdown.addEventListener("abort", end, { once: true });
      try {
        for await (const event of followEvents(ctx.services, input.codebaseId, {
          after,
          sessionId: input.sessionId,
          signal: stop.signal,
        })) {
          yield tracked(String(event.id), event);
        }
      } finally {
        signal?.removeEventListener("abort", end);
        ctx.services.shutdown.removeEventListener("abort", end);
      }
    }),
});
