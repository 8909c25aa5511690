/**
 * The durable, ordered agent event log. Each codebase has one stream; an event's
 * id is its `seq` in that stream, assigned from the stream's head counter inside
 * the inserting transaction, so ids are gap-free and become visible in order.
 * Readers pull `seq > cursor`; a head change is announced in-process at once and
 * to other processes by a small NOTIFY hint, so a slow reader only slows itself.
 */
import { and, asc, eq, getTableColumns, gt, inArray, sql } from "drizzle-orm";
import type { Database, Db, Unlisten } from "../../db/client.js";
import { agentEvents, eventStreams } from "../../db/schema.js";
import { storableJson } from "../../db/storable.js";
import type { AgentEvent, NewEvent } from "./types.js";

const channel = "codetether_events";
/** NOTIFY can be lost (e.g. across a reconnect), so waiting readers also re-check this often. */
const defaultPollFallbackMs = 2000;

type Row = typeof agentEvents.$inferSelect;

export function toAgentEvent(row: Row): AgentEvent {
  return {
    id: row.seq,
    type: row.type,
    data: row.data,
    created_at: row.createdAt.toISOString(),
    ...(row.taskId ? { task_id: row.taskId } : {}),
  } as AgentEvent;
}

interface Pending {
  events: NewEvent[];
  resolve: (stored: AgentEvent[]) => void;
  reject: (err: unknown) => void;
}

export class EventLog {
  private readonly heads = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly queues = new Map<string, Pending[]>();
  private unlisten: Unlisten | undefined;

  constructor(
    private readonly database: Database,
    private readonly pollFallbackMs = defaultPollFallbackMs,
  ) {}

  /** Starts listening for other processes' appends. */
  async start(): Promise<void> {
    this.unlisten ??= await this.database.listen(channel, (payload) => {
      const at = payload.lastIndexOf(":");
      if (at > 0) this.advance(payload.slice(0, at), Number(payload.slice(at + 1)));
    });
  }

  async stop(): Promise<void> {
    const un = this.unlisten;
    this.unlisten = undefined;
    await un?.().catch(() => {});
    for (const set of this.waiters.values()) for (const wake of set) wake();
  }

  /**
   * Stores events at the end of a stream and returns them with their ids. Calls
   * made while a write is in flight are grouped into the next transaction.
   */
  append(streamId: string, events: NewEvent[]): Promise<AgentEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(streamId);
      const first = !queue;
      if (!queue) this.queues.set(streamId, (queue = []));
      queue.push({ events, resolve, reject });
      if (first) void this.drain(streamId);
    });
  }

  private async drain(streamId: string): Promise<void> {
    for (;;) {
      const batch = this.queues.get(streamId) ?? [];
      if (batch.length === 0) {
        this.queues.delete(streamId);
        return;
      }
      this.queues.set(streamId, []);
      try {
        const stored = await this.database.db.transaction((tx) => appendInTx(tx, streamId, batch.flatMap((p) => p.events)));
        let offset = 0;
        for (const p of batch) {
          p.resolve(stored.slice(offset, offset + p.events.length).filter((e): e is AgentEvent => e !== null));
          offset += p.events.length;
        }
        this.stored(streamId, stored);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  }

  /** Tells local readers about events another transaction of this process committed. */
  stored(streamId: string, events: readonly (AgentEvent | null)[]): void {
    let head = 0;
    for (const e of events) if (e && e.id > head) head = e.id;
    if (head > 0) this.advance(streamId, head);
  }

  /** Events after `afterId`, oldest first. */
  async read(streamId: string, afterId: number, limit = 500): Promise<AgentEvent[]> {
    const rows = await this.database.db
      .select()
      .from(agentEvents)
      .where(and(eq(agentEvents.streamId, streamId), gt(agentEvents.seq, afterId)))
      .orderBy(asc(agentEvents.seq))
      .limit(limit);
    return rows.map(toAgentEvent);
  }

  /** The id of the stream's newest event (0 when empty). */
  async head(streamId: string): Promise<number> {
    const [row] = await this.database.db
      .select({ head: eventStreams.head })
      .from(eventStreams)
      .where(eq(eventStreams.streamId, streamId));
    const head = row?.head ?? 0;
    this.advance(streamId, head);
    return head;
  }

  /** Resolves when the stream may have moved past `afterId`, on abort, or after the poll interval. */
  waitForMore(streamId: string, afterId: number, signal?: AbortSignal): Promise<void> {
    if ((this.heads.get(streamId) ?? 0) > afterId || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(streamId);
      if (!set) this.waiters.set(streamId, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(streamId) === set) this.waiters.delete(streamId);
        resolve();
      };
      const timer = setTimeout(done, this.pollFallbackMs);
      signal?.addEventListener("abort", done, { once: true });
      set.add(done);
    });
  }

  /** Followers of each stream in this process (see `follow`). */
  private readonly followers = new Map<string, number>();

  /** Counts a follower of `streamId` until the returned function is called. */
  follow(streamId: string): () => void {
    this.followers.set(streamId, (this.followers.get(streamId) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.followers.get(streamId) ?? 1) - 1;
      if (n === 0) this.followers.delete(streamId);
      else this.followers.set(streamId, n);
    };
  }

  /**
   * Resolves once every follower in this process waits for more (it has sent all
   * it knows of), or after `timeoutMs`: on shutdown, so the last events written
   * (a run's `aborted` end) reach the clients before their streams close.
   */
  async followersCaughtUp(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    const caughtUp = () => [...this.followers].every(([stream, n]) => (this.waiters.get(stream)?.size ?? 0) >= n);
    while (!caughtUp() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  private advance(streamId: string, head: number): void {
    if (!Number.isFinite(head) || head <= (this.heads.get(streamId) ?? 0)) return;
    this.heads.set(streamId, head);
    const set = this.waiters.get(streamId);
    if (set) for (const wake of [...set]) wake();
    for (const watch of this.watchers) watch(streamId, head);
  }

  private readonly watchers = new Set<(streamId: string, head: number) => void>();

  /**
   * Calls `onAdvance` whenever any stream this process knows of moves forward (its
   * own appends, and other processes' through the NOTIFY hint); returns the unwatch.
   */
  watch(onAdvance: (streamId: string, head: number) => void): () => void {
    this.watchers.add(onAdvance);
    return () => this.watchers.delete(onAdvance);
  }

  /** Drops a stream and its events (the codebase is being deleted), inside the caller's transaction. */
  static async deleteStream(tx: Db, streamId: string): Promise<void> {
    await tx.delete(agentEvents).where(eq(agentEvents.streamId, streamId));
    await tx.delete(eventStreams).where(eq(eventStreams.streamId, streamId));
  }
}

/**
 * Appends events inside the caller's transaction, under the stream's row lock, so
 * seqs are gap-free and commit in order. Events uploaded by a worker
 * (task, attempt, workerSeq) that are already stored are skipped and come back as
 * null: a retried upload never stores anything twice. Commit, then call
 * `EventLog.stored` to wake this process's readers (NOTIFY wakes the others).
 *
 * Round trips count on this hot path (every event of a run, every claim and
 * completion): one upsert creates, locks and advances the head at once, and the
 * NOTIFY rides on the insert's RETURNING (Postgres folds the identical
 * notifications of one transaction into one).
 */
export async function appendInTx(tx: Db, streamId: string, events: readonly NewEvent[]): Promise<(AgentEvent | null)[]> {
  if (events.length === 0) return [];
  let fresh = events.map(() => true);
  if (events.some(isUpload)) {
    // Uploads are checked under the lock, so a retry racing its original sees what the original stored.
    await lockStream(tx, streamId, 0);
    fresh = await withoutStoredUploads(tx, events);
  }
  const keep = events.filter((_, i) => fresh[i]);
  if (keep.length === 0) return events.map(() => null);
  const head = await lockStream(tx, streamId, keep.length);
  const first = head - keep.length + 1;
  const rows = await tx
    .insert(agentEvents)
    .values(
      keep.map((e, i) => ({
        streamId,
        seq: first + i,
        type: e.type,
        sessionId: e.data.session_id,
        taskId: e.taskId ?? null,
        attempt: e.attempt ?? null,
        workerSeq: e.workerSeq ?? null,
        data: storableJson(e.data as Record<string, unknown>),
      })),
    )
    .returning({ ...getTableColumns(agentEvents), notified: sql<string>`pg_notify(${channel}, ${`${streamId}:${head}`})::text` });
  const stored = rows.sort((a, b) => a.seq - b.seq).map(toAgentEvent);
  let next = 0;
  return events.map((_, i) => (fresh[i] ? stored[next++]! : null));
}

/** Creates the stream if needed, row-locks it until commit, advances its head by `by`, and returns the new head. */
async function lockStream(tx: Db, streamId: string, by: number): Promise<number> {
  const [row] = await tx
    .insert(eventStreams)
    .values({ streamId, head: by })
    .onConflictDoUpdate({ target: eventStreams.streamId, set: { head: sql`${eventStreams.head} + ${by}` } })
    .returning({ head: eventStreams.head });
  return row!.head;
}

const isUpload = (e: NewEvent) => Boolean(e.taskId) && e.attempt !== undefined && e.workerSeq !== undefined;

/** For each event: true unless it is a worker upload whose (task, attempt, workerSeq) is already stored. */
async function withoutStoredUploads(tx: Db, events: readonly NewEvent[]): Promise<boolean[]> {
  const uploads = events.filter(isUpload);
  if (uploads.length === 0) return events.map(() => true);
  const key = (task: unknown, attempt: unknown, seq: unknown) => `${task}:${attempt}:${seq}`;
  const rows = await tx
    .select({ taskId: agentEvents.taskId, attempt: agentEvents.attempt, workerSeq: agentEvents.workerSeq })
    .from(agentEvents)
    .where(
      and(
        inArray(agentEvents.taskId, [...new Set(uploads.map((e) => e.taskId!))]),
        inArray(agentEvents.workerSeq, uploads.map((e) => e.workerSeq!)),
      ),
    );
  const seen = new Set(rows.map((r) => key(r.taskId, r.attempt, r.workerSeq)));
  return events.map((e) => {
    if (!isUpload(e)) return true;
    const k = key(e.taskId, e.attempt, e.workerSeq);
    if (seen.has(k)) return false;
    seen.add(k); // the same event twice in one batch
    return true;
  });
}
