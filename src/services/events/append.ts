/**
 * Storing events at the end of a stream, inside the caller's transaction, in one
 * statement. Round trips count on this path (every event of a run, every claim,
 * completion and worker upload), so the statement does it all at once:
 *
 * 1. drops worker uploads whose (task, attempt, worker_seq) is already stored (a
 *    retried upload stores nothing twice), by one probe of the upload index per event,
 *    a lateral lookup: written as `worker_seq is null or not exists (…)`, Postgres
 *    turned the check into hashing all of agent_events whenever its statistics lagged
 *    behind the table's growth (a scan of every stored event in each upload: 17 ms
 *    at 45,000 events, and growing with the table);
 * 2. creates the stream row or advances its head by the number of fresh events,
 *    taking its row lock until commit, so seqs are gap-free and commit in order;
 * 3. inserts the fresh events at the seqs below the new head, and
 * 4. NOTIFYs the new head (identical notifications of one transaction fold into one), and
 * 5. writes the webhook deliveries the fresh events cause (see webhooks/outbox.ts), when any does.
 *
 * Usage events among them are then added to the usage rollups (one more statement).
 *
 * The duplicate check reads before the head's lock is taken, which is safe because
 * every caller that uploads holds the task's row lock (`lockLeased`), so a retry
 * cannot race its original; the unique index on (task, attempt, worker_seq) would
 * refuse a duplicate if one ever got through.
 */
import { sql } from "drizzle-orm";
import type { AgentEvent, NewEvent } from "../../contracts/events.js";
import { type Db, rowsOf } from "../../db/client.js";
import { storableJson } from "../../db/storable.js";
import { rollUpUsageInTx } from "../usage/rollup.js";
import { deliveriesOfEvents } from "../webhooks/outbox.js";
import { webhooksOf } from "../webhooks/webhook-events.js";

/** The NOTIFY channel that tells other processes a stream moved (payload `stream:head`). */
export const eventsChannel = "codetether_events";

const isUpload = (e: NewEvent) => Boolean(e.taskId) && e.attempt !== undefined && e.workerSeq !== undefined;
const uploadKey = (e: { taskId?: string | null; attempt?: number | null; workerSeq?: number | null }) => `${e.taskId}:${e.attempt}:${e.workerSeq}`;

interface StoredRow {
  seq: number | string | bigint;
  type: string;
  data: unknown;
  created_at: Date | string;
  task_id: string | null;
  attempt: number | null;
  worker_seq: number | null;
}

/**
 * Appends `events` to `streamId` and returns, for each, the stored event or null
 * when it was an upload already stored (or repeated within the batch). Commit,
 * then call `EventLog.stored` to wake this process's readers.
 */
export async function appendInTx(tx: Db, streamId: string, events: readonly NewEvent[]): Promise<(AgentEvent | null)[]> {
  if (events.length === 0) return [];
  // The same upload twice in one batch is kept once.
  const seen = new Set<string>();
  const candidate = events.map((e) => {
    if (!isUpload(e)) return true;
    const key = uploadKey(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const input = events.flatMap((e, i) =>
    candidate[i]
      ? [
          {
            ord: i,
            type: e.type,
            session_id: e.data.session_id ?? null,
            task_id: e.taskId ?? null,
            attempt: e.attempt ?? null,
            worker_seq: e.workerSeq ?? null,
            data: storableJson(e.data as Record<string, unknown>),
          },
        ]
      : [],
  );
  const deliveries = deliveriesOfEvents(
    streamId,
    events.flatMap((e, i) => (candidate[i] ? webhooksOf(streamId, e).map((message) => ({ ord: i, message })) : [])),
  );
  const result = await tx.execute(sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
        as i(ord int, type text, session_id text, task_id text, attempt int, worker_seq int, data jsonb)
    ), fresh as (
      select i.*, row_number() over (order by i.ord) as n, count(*) over () as total
      from input i
      left join lateral (
        select 1 as stored from agent_events e
        where i.worker_seq is not null and e.task_id = i.task_id and e.attempt = i.attempt and e.worker_seq = i.worker_seq
        limit 1
      ) dup on true
      where dup.stored is null
    ), bumped as (
      insert into event_streams (stream_id, head) values (${streamId}, (select count(*) from fresh))
      on conflict (stream_id) do update set head = event_streams.head + excluded.head
      returning head
    )${deliveries ?? sql``}
    insert into agent_events (stream_id, seq, type, session_id, task_id, attempt, worker_seq, data)
    select ${streamId}, bumped.head - fresh.total + fresh.n, fresh.type, fresh.session_id, fresh.task_id, fresh.attempt, fresh.worker_seq, fresh.data
    from fresh, bumped
    order by fresh.n
    returning seq, type, data, created_at, task_id, attempt, worker_seq,
      pg_notify(${eventsChannel}, ${streamId} || ':' || (select head from bumped))::text as notified`);
  const rows = rowsOf<StoredRow>(result);
  const stored = rows.map(toStoredEvent).sort((a, b) => a.event.id - b.event.id);
  // Usage counts toward the totals in this same transaction: totals and events always agree.
  await rollUpUsageInTx(
    tx,
    streamId,
    stored.map((s) => s.event).filter((e) => e.type === "usage"),
  );
  // Fresh events keep their order, so walk both lists together; an upload with no row was already stored.
  let next = 0;
  return events.map((e, i) => {
    if (!candidate[i]) return null;
    const row = stored[next];
    if (!row || (isUpload(e) && row.key !== uploadKey(e))) return null;
    next++;
    return row.event;
  });
}

/** A stored row as the event clients see: its id is its seq in the stream. */
export function toAgentEvent(row: { seq: number; type: string; data: unknown; createdAt: Date; taskId: string | null }): AgentEvent {
  return {
    id: row.seq,
    type: row.type,
    data: row.data,
    created_at: row.createdAt.toISOString(),
    ...(row.taskId ? { task_id: row.taskId } : {}),
  } as AgentEvent;
}

/** A row of the raw append statement (the drivers differ in how they hand back bigint, jsonb and timestamps). */
function toStoredEvent(row: StoredRow): { event: AgentEvent; key: string } {
  const event = toAgentEvent({
    seq: Number(row.seq),
    type: row.type,
    data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
    taskId: row.task_id,
  });
  return { event, key: uploadKey({ taskId: row.task_id, attempt: row.attempt, workerSeq: row.worker_seq }) };
}
