/**
 * CODETETHER_EVENT_RETENTION_DAYS: events older than that are pruned, in small
 * batches (short transactions, so appends never wait long), always as a prefix of
 * each stream, and never an event of a run still going (a running session, a
 * pending or running task). `event_streams.pruned_through` records how far each
 * stream was pruned: a client resuming from before it gets a `reset` event.
 * Usage totals are rollups of their own and outlive the events.
 */
import { and, eq, gt, lt, sql } from "drizzle-orm";
import { agentEvents, eventStreams } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";

const batchSize = 1000;
const everyMs = 60_000;

/** Prunes what retention allows now; returns how many events went. */
export async function pruneEvents(ctx: ServiceContext, retentionDays: number, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - retentionDays * 86_400_000);
  const db = ctx.database.db;
  // Pruning keeps a prefix, so only a stream whose oldest kept event is past the cutoff has work (one key lookup each).
  const streams = await db
    .select({ id: eventStreams.streamId, head: eventStreams.head, pruned: eventStreams.prunedThrough })
    .from(eventStreams)
    .where(
      sql`exists (select 1 from agent_events e where e.stream_id = ${eventStreams.streamId}
        and e.seq = ${eventStreams.prunedThrough} + 1 and e.created_at < ${cutoff.toISOString()}::timestamptz)`,
    );
  let total = 0;
  for (const stream of streams) {
    // The first event that must stay: a recent one, or one of a run that is still going.
    const [row] = await db
      .execute<{ keep: string | number | null }>(sql`
      select least(
        (select seq from agent_events where stream_id = ${stream.id} and seq > ${stream.pruned} and created_at >= ${cutoff.toISOString()}::timestamptz order by seq limit 1),
        (select min(e.seq) from agent_events e join sessions s on s.id = e.session_id
          where e.stream_id = ${stream.id} and e.seq > ${stream.pruned} and s.status = 'running'),
        (select min(e.seq) from agent_events e join tasks t on t.id = e.task_id
          where e.stream_id = ${stream.id} and e.seq > ${stream.pruned} and t.status in ('pending', 'running'))
      ) as keep`)
      .then((r) => (Array.isArray(r) ? r : (r as { rows: { keep: string | number | null }[] }).rows));
    const keepFrom = row?.keep === null || row?.keep === undefined ? stream.head + 1 : Number(row.keep);
    let through = stream.pruned;
    while (through < keepFrom - 1) {
      const upTo = Math.min(keepFrom - 1, through + batchSize);
      const deleted = await db.transaction(async (tx) => {
        const gone = await tx
          .delete(agentEvents)
          .where(and(eq(agentEvents.streamId, stream.id), gt(agentEvents.seq, through), sql`${agentEvents.seq} <= ${upTo}`))
          .returning({ seq: agentEvents.seq });
        await tx
          .update(eventStreams)
          .set({ prunedThrough: upTo })
          .where(and(eq(eventStreams.streamId, stream.id), lt(eventStreams.prunedThrough, upTo)));
        return gone.length;
      });
      total += deleted;
      through = upTo;
    }
  }
  if (total > 0) ctx.log.info({ pruned: total, retention_days: retentionDays }, "old events pruned");
  return total;
}

/** Runs `pruneEvents` every minute while the server runs (only when a retention is set). */
export function startRetention({ ctx }: { ctx: ServiceContext }): () => void {
  const days = ctx.config.eventRetentionDays;
  if (days === undefined) return () => {};
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await pruneEvents(ctx, days);
    } catch (err) {
      ctx.log.warn({ err }, "pruning old events failed; trying again later");
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void tick(), 5000);
  const timer = setInterval(() => void tick(), everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
