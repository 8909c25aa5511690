/** A codebase's stored events as pages (what a stream would replay), filtered by session or task. */
import "@hono/zod-openapi";
import { z } from "zod";
import type { AgentEvent } from "../../contracts/events.js";
import { Id } from "../../contracts/fields.js";
import { getCodebaseRow } from "../codebases/codebases.js";
import type { ServiceContext } from "../context.js";
import { cutPage, decodeCursor, defaultPageItems, type Page, PageQuery } from "../paging.js";

export const EventHistoryQuery = PageQuery.extend({
  session_id: Id.optional().openapi({ description: "Only this session's events" }),
  task_id: Id.optional().openapi({ description: "Only this task's events (all its attempts)" }),
});
export type EventHistoryQuery = z.infer<typeof EventHistoryQuery>;

export async function eventHistory({
  ctx,
  codebaseId,
  query,
}: {
  ctx: ServiceContext;
  codebaseId: string;
  query: EventHistoryQuery;
}): Promise<Page<AgentEvent>> {
  await getCodebaseRow({ ctx, id: codebaseId });
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, z.tuple([z.number().int().min(0)]))?.[0] ?? 0;
  const filter = query.session_id || query.task_id ? { sessionId: query.session_id, taskId: query.task_id } : undefined;
  const { events } = await ctx.events.readMatching(codebaseId, after, limit + 1, filter);
  return cutPage(
    events,
    limit,
    (e) => e,
    (e) => [e.id],
  );
}
