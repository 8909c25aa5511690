/**
 * Storing events at the end of a stream in one statement. Round trips count on this
 * path (every event of a run, every claim, completion and worker upload), so the
 * statement does it all at once, and a verb whose change and events commit together
 * can put its change in the same statement (`appendCtes` after CTEs of its own: the
 * upload's lease check, the claim's update). Its CTEs:
 *
 * 1. `input`: the events, given by the caller (`givenEvents`, one JSON parameter) or
 *    selected from the caller's own CTEs (a claim's `claimed` events);
 * 2. `fresh`: drops worker uploads whose (task, attempt, worker_seq) is already stored
 *    (a retried upload stores nothing twice), by one probe of the upload index per
 *    event, a lateral lookup: written as `worker_seq is null or not exists (…)`,
 *    Postgres turned the check into hashing all of agent_events whenever its
 *    statistics lagged behind the table's growth (a scan of every stored event in
 *    each upload: 17 ms at 45,000 events, and growing with the table). An upload that
 *    knows how far its attempt was stored (`storedThrough`) probes only below it: a
 *    worker seq above it cannot be stored yet (a value read before a concurrent upload
 *    committed is only lower, so it probes more, and the unique index stays the backstop);
 * 3. `bumped`: creates each stream's row or advances its head by its number of fresh
 *    events, taking the row locks (in stream order, so two appends never deadlock)
 *    until commit, so seqs are gap-free and commit in order, and NOTIFYs each new head
 *    (once per stream, not per event: an upload of 200 made 200 calls to fold into one);
 * 4. `stored`: inserts the fresh events at the seqs below the new heads;
 * 5. `appended`: the stored events with their seqs;
 * 6. the webhook deliveries the events cause (see webhooks/outbox.ts) and the usage
 *    they count (see usage/rollup.ts), when any does.
 *
 * The duplicate check reads the statement's snapshot. Every caller that uploads
 * takes the task's row lock first, so a retry waits for its original; having waited,
 * it does not see what the original stored, and the unique index on (task, attempt,
 * worker_seq) refuses it: `isRepeatedUpload` tells the caller to run it again.
 */
import { type SQL, sql } from "drizzle-orm";
import type { AgentEvent, NewEvent } from "../../contracts/events.js";
import type { Db } from "../../db/client.js";
import { runCompiled, value } from "../../db/compiled.js";
import { storableJson } from "../../db/storable.js";
import { usageColumnsOf, usageRollupCtes } from "../usage/rollup.js";
import { deliveriesCte, deliveryRows } from "../webhooks/outbox.js";
import { causesWebhooks, type WebhookMessage, webhooksOf } from "../webhooks/webhook-events.js";

/** The NOTIFY channel that tells other processes a stream moved (payload `stream:head`). */
export const eventsChannel = "codetether_events";

const isUpload = (e: NewEvent) => Boolean(e.taskId) && e.workerSeq !== undefined;
const uploadKey = (e: NewEvent) => `${e.taskId}:${e.attempt}:${e.workerSeq}`;

/**
 * What the final select of a statement built on `appendCtes` reads of each stored event (`appended` a), named apart
 * from a table's own columns (which such a select may read beside them).
 */
export const appendedColumns = sql.raw("a.ord as appended_ord, a.stream_id as appended_stream, a.seq as appended_seq, a.created_at as appended_at");
/** …and the events themselves, for a statement that selected its events (the caller knows those it gave). */
export const appendedContent = sql.raw("a.type as appended_type, a.data as appended_data");

/** A row of `appended` as the drivers hand it back (they differ in how they hand back bigint, timestamps and JSON). */
export interface AppendedRow {
  appended_ord: number | null;
  appended_stream: string | null;
  appended_seq: number | string | bigint | null;
  appended_at: Date | string | null;
  /** With `appendedContent`. */
  appended_type?: string | null;
  appended_data?: unknown;
}

/** Events the caller gives, as an append's input: the values of `givenInput`'s placeholders and of the deliveries'. */
export interface GivenEvents {
  /** `events` (and `stream` when named, `deliveries` when an event causes any), for the statement's values. */
  values: Record<string, unknown>;
  /** Whether the append writes webhook deliveries (`deliveriesCte`) and usage rollups. */
  deliveries: boolean;
  usage: boolean;
  /** What of the append's text depends on these events, for the key of the statement it is part of. */
  shape: string;
  /** For each given event, the stored one (null: an upload already stored, or repeated in the batch), from `appended` rows. */
  decode(rows: readonly AppendedRow[]): (AgentEvent | null)[];
}

/**
 * `events` as an append's input, to `stream` (a codebase's id), or to the stream the statement selects (null: see
 * `givenInput`; then no event may cause a webhook, whose message names its codebase).
 */
export function givenEvents(stream: string | null, events: readonly NewEvent[]): GivenEvents {
  // The same upload twice in one batch is kept once.
  const seen = new Set<string>();
  const rows: Record<string, unknown>[] = [];
  const data: unknown[] = [];
  const messages: { ord: number; message: WebhookMessage }[] = [];
  events.forEach((e, ord) => {
    if (isUpload(e)) {
      const key = uploadKey(e);
      if (seen.has(key)) return;
      seen.add(key);
    }
    data[ord] = storableJson(e.data);
    rows.push({
      ord,
      type: e.type,
      session_id: e.data.session_id ?? null,
      task_id: e.taskId ?? null,
      attempt: e.attempt ?? null,
      worker_seq: e.workerSeq ?? null,
      data: data[ord],
    });
    if (stream !== null) for (const message of webhooksOf(stream, e)) messages.push({ ord, message });
    else if (causesWebhooks(e)) throw new Error(`a ${e.type} event causes webhooks: append it to a named stream`);
  });
  const deliveries = deliveryRows(messages);
  const usage = events.some((e) => e.type === "usage");
  return {
    values: { events: JSON.stringify(rows), ...(stream === null ? {} : { stream }), ...(deliveries === null ? {} : { deliveries }) },
    deliveries: deliveries !== null,
    usage,
    shape: `${deliveries === null ? "" : "+deliveries"}${usage ? "+usage" : ""}`,
    decode(appended) {
      const out: (AgentEvent | null)[] = events.map(() => null);
      for (const row of appended) {
        if (row.appended_ord === null || row.appended_seq === null) continue;
        const ord = row.appended_ord;
        const e = events[ord]!;
        out[ord] = storedEvent({ seq: row.appended_seq, type: e.type, data: data[ord], created_at: row.appended_at!, task_id: e.taskId ?? null });
      }
      return out;
    },
  };
}

/**
 * Selects an append's `input` from the `events` value of `givenEvents`: to the `stream` value, or to the stream
 * `options.stream` selects (such as the upload's leased task's codebase). `attempt` numbers uploads whose events
 * carry none; `when` stores them only if it holds (the upload's lease). Each is SQL of a statement's text, never a value.
 */
export function givenInput(options: { stream?: SQL; attempt?: SQL; when?: SQL } = {}): SQL {
  return sql`select ${options.stream ?? sql`${value("stream")}::text`} as stream_id, i.ord, i.type, i.session_id, i.task_id, ${options.attempt ? sql`coalesce(i.attempt, ${options.attempt})` : sql`i.attempt`} as attempt, i.worker_seq, i.data
      from jsonb_to_recordset(${value("events")}::jsonb) as i(ord int, type text, session_id text, task_id text, attempt int, worker_seq int, data jsonb)
      ${options.when ? sql`where ${options.when}` : sql``}`;
}

/**
 * The CTEs that store what `input` selects (see the top of this file), to follow CTEs of the caller's own in one
 * `with`; the caller's final select reads `appended` (`appendedColumns`).
 */
export function appendCtes(input: SQL, options: { deliveries?: boolean; usage?: boolean; storedThrough?: SQL } = {}): SQL {
  return sql`input as (${input}), fresh as (
      select i.*, row_number() over (partition by i.stream_id order by i.ord) as n, count(*) over (partition by i.stream_id) as total
      from input i
      left join lateral (
        select 1 as stored from agent_events e
        where i.worker_seq is not null${options.storedThrough ? sql` and i.worker_seq <= ${options.storedThrough}` : sql``}
          and e.task_id = i.task_id and e.attempt = i.attempt and e.worker_seq = i.worker_seq
        limit 1
      ) dup on true
      where dup.stored is null
    ), bumped as (
      insert into event_streams (stream_id, head)
      select stream_id, count(*) from fresh group by stream_id order by stream_id
      on conflict (stream_id) do update set head = event_streams.head + excluded.head
      returning stream_id, head, pg_notify(${eventsChannel}, stream_id || ':' || head) as notified
    ), stored as (
      insert into agent_events (stream_id, seq, type, session_id, task_id, attempt, worker_seq, data)
      select f.stream_id, b.head - f.total + f.n, f.type, f.session_id, f.task_id, f.attempt, f.worker_seq, f.data
      from fresh f join bumped b on b.stream_id = f.stream_id
      order by f.stream_id, f.n
    ), appended as (
      select f.ord, f.stream_id, b.head - f.total + f.n as seq, f.type, f.session_id, f.task_id, f.data, now() as created_at
      from fresh f join bumped b on b.stream_id = f.stream_id
    )${options.deliveries ? deliveriesCte : sql``}${
      options.usage
        ? usageRollupCtes(
            sql`select a.stream_id as codebase_id, a.session_id, a.task_id, ${usageColumnsOf(sql`a.data`)}, a.created_at as at from appended a where a.type = 'usage'`,
          )
        : sql``
    }`;
}

/**
 * Appends `events` to `streamId` in one statement (on its own it commits alone; in a transaction, with it) and
 * returns, for each, the stored event or null when it was an upload already stored (or repeated within the batch).
 * Once committed, `EventLog.stored` wakes this process's readers.
 */
export async function appendEvents(db: Db, streamId: string, events: readonly NewEvent[]): Promise<(AgentEvent | null)[]> {
  if (events.length === 0) return [];
  const given = givenEvents(streamId, events);
  const rows = await runCompiled<AppendedRow>(db, {
    key: `append${given.shape}`,
    build: () => sql`with ${appendCtes(givenInput(), given)} select ${appendedColumns} from appended a`,
    values: given.values,
  });
  return given.decode(rows);
}

/** True when `err` (or what caused it: drizzle wraps the driver's error) is the unique upload index refusing an upload stored meanwhile: running the statement again skips it. */
export function isRepeatedUpload(err: unknown): boolean {
  for (let e = err as { code?: string; constraint_name?: string; constraint?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === "23505") return (e.constraint_name ?? e.constraint) === "agent_events_upload_dedupe";
  }
  return false;
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

/** The stored event of an `appendedColumns` row whose input the statement selected itself (a claim's events). */
export function appendedEvent(row: AppendedRow, taskId: string | null): AgentEvent {
  return storedEvent({ seq: row.appended_seq!, type: row.appended_type!, data: row.appended_data, created_at: row.appended_at!, task_id: taskId });
}

/** An event as a raw statement answers it (JSON as text or parsed, bigint and timestamps as the driver hands them). */
function storedEvent(row: { seq: number | string | bigint; type: string; data: unknown; created_at: Date | string; task_id: string | null }): AgentEvent {
  return toAgentEvent({
    seq: Number(row.seq),
    type: row.type,
    data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
    taskId: row.task_id,
  });
}
