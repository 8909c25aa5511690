/**
 * The durable, ordered agent event log. Each codebase has one stream; an event's
 * id is its `seq` in that stream, assigned from the stream's head counter inside
 * the inserting transaction, so ids are gap-free and become visible in order.
 *
 * Reading is shared: while a stream has followers in this process, its new events
 * are read once into a `StreamWindow` (or taken straight from this process's own
 * appends) and every follower takes them from there. A head change is announced
 * in-process at once and to other processes by a small NOTIFY hint; a timed re-check
 * per followed stream covers a lost hint. A slow follower only slows itself: it
 * falls behind the window and reads the database on its own until it catches up.
 */
import { and, asc, eq, gt, lte } from "drizzle-orm";
import type { AgentEvent, EventFilter, NewEvent } from "../../contracts/events.js";
import type { Database, Db, Unlisten } from "../../db/client.js";
import { type CompiledStatement, runCompiled } from "../../db/compiled.js";
import { agentEvents, eventStreams } from "../../db/schema.js";
import { appendEvents, eventsChannel, isRepeatedUpload, toAgentEvent } from "./append.js";
import { StreamWindow, type WindowLimits } from "./window.js";

/** NOTIFY can be lost (e.g. across a reconnect), so followed streams are also re-checked this often. */
const defaultPollFallbackMs = 2000;
const defaultWindow: WindowLimits = { maxBytes: 4 * 1024 * 1024, maxEvents: 10_000 };
/** How long a NOTIFY hint waits before it makes a followed stream read (see `start`). */
const hintGraceMs = 2;
/** Rows per database read when filling a window. */
const fillPage = 1000;

interface Pending {
  events: NewEvent[];
  resolve: (stored: AgentEvent[]) => void;
  reject: (err: unknown) => void;
}

/** A followed stream's shared state in this process. */
interface Followed {
  window: StreamWindow;
  followers: number;
  filling: boolean;
  /** Set when the head moved while a fill was running, so it reads once more. */
  again: boolean;
  recheck: NodeJS.Timeout;
}

export interface EventLogOptions {
  pollFallbackMs?: number;
  window?: WindowLimits;
}

export class EventLog {
  private readonly heads = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly queues = new Map<string, Pending[]>();
  private readonly followed = new Map<string, Followed>();
  private readonly watchers = new Set<(streamId: string, head: number) => void>();
  private readonly pollFallbackMs: number;
  private readonly windowLimits: WindowLimits;
  private unlisten: Unlisten | undefined;
  private openStreams = 0;

  constructor(
    private readonly database: Database,
    options: EventLogOptions = {},
  ) {
    this.pollFallbackMs = options.pollFallbackMs ?? defaultPollFallbackMs;
    this.windowLimits = options.window ?? defaultWindow;
  }

  /** Starts listening for other processes' appends. */
  async start(): Promise<void> {
    this.unlisten ??= await this.database.listen(eventsChannel, (payload) => {
      const at = payload.lastIndexOf(":");
      if (at <= 0) return;
      // The hint for this process's own commit can arrive before the commit's answer does; a moment's
      // grace lets `stored` hand those events to the window directly instead of a read fetching them again.
      const streamId = payload.slice(0, at);
      const head = Number(payload.slice(at + 1));
      setTimeout(() => this.advance(streamId, head), hintGraceMs);
    });
  }

  async stop(): Promise<void> {
    const un = this.unlisten;
    this.unlisten = undefined;
    await un?.().catch(() => {});
    for (const f of this.followed.values()) clearInterval(f.recheck);
    for (const set of this.waiters.values()) for (const wake of set) wake();
  }

  /**
   * Stores events at the end of a stream and returns them with their ids. Calls
   * made while a write is in flight are grouped into the next statement.
   */
  append(streamId: string, events: NewEvent[]): Promise<AgentEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(streamId);
      const first = !queue;
      if (!queue) {
        queue = [];
        this.queues.set(streamId, queue);
      }
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
        // One statement, committed on its own: no begin and commit round trips.
        const stored = await appendEvents(
          this.database.db,
          streamId,
          batch.flatMap((p) => p.events),
        );
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

  /**
   * Runs `work` in one transaction in which `append` stores events with the change
   * they record (both commit, or neither), and hands them to this process's readers
   * once it has committed: the way a verb of several statements writes events.
   */
  async transaction<T>(work: (tx: Db, append: (streamId: string, events: readonly NewEvent[]) => Promise<(AgentEvent | null)[]>) => Promise<T>): Promise<T> {
    const appended: [string, (AgentEvent | null)[]][] = [];
    const result = await this.database.db.transaction((tx) =>
      work(tx, async (streamId, events) => {
        const stored = await appendEvents(tx, streamId, events);
        appended.push([streamId, stored]);
        return stored;
      }),
    );
    for (const [streamId, stored] of appended) this.stored(streamId, stored);
    return result;
  }

  /**
   * Runs one statement that makes a change and stores its events (its own CTEs, then `appendCtes`), committed on
   * its own: the way a verb of one statement writes events. `read` turns its rows into the answer and the events
   * stored (by stream), which go to this process's readers once it has committed. An upload the unique index
   * refused (its retry overtook it, see append.ts) runs again and finds it stored.
   */
  async statement<T, R = Record<string, unknown>>(
    query: CompiledStatement,
    read: (rows: R[]) => { result: T; stored: readonly [string, readonly (AgentEvent | null)[]][] },
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let rows: R[];
      try {
        rows = await runCompiled<R>(this.database.db, query);
      } catch (err) {
        if (attempt < 3 && isRepeatedUpload(err)) continue;
        throw err;
      }
      const { result, stored } = read(rows);
      for (const [streamId, events] of stored) this.stored(streamId, events);
      return result;
    }
  }

  /**
   * Tells local readers about events a transaction of this process committed: they
   * join the stream's window directly (no read), unless some ids before them are
   * not known yet, which a fill then reads.
   */
  stored(streamId: string, events: readonly (AgentEvent | null)[]): void {
    const fresh = events.filter((e): e is AgentEvent => e !== null).sort((a, b) => a.id - b.id);
    if (fresh.length === 0) return;
    for (const observer of this.observers) {
      try {
        observer(streamId, fresh);
      } catch {
        // Logs and metrics must never stop events from reaching their readers.
      }
    }
    const followed = this.followed.get(streamId);
    if (followed?.window.push(fresh)) this.wake(streamId);
    this.advance(streamId, fresh[fresh.length - 1]!.id);
    this.catchUp(streamId);
  }

  /** Events after `afterId`, oldest first, from the database. */
  async read(streamId: string, afterId: number, limit = 500): Promise<AgentEvent[]> {
    const rows = await this.database.db
      .select()
      .from(agentEvents)
      .where(and(eq(agentEvents.streamId, streamId), gt(agentEvents.seq, afterId)))
      .orderBy(asc(agentEvents.seq))
      .limit(limit);
    return rows.map(toAgentEvent);
  }

  /**
   * Events after `afterId` that match `filter`, oldest first, through its index, and
   * how far the stream was looked at: `through` is where the next read starts (the
   * head, once fewer than `limit` matched). Without a filter it is `read`.
   */
  async readMatching(streamId: string, afterId: number, limit: number, filter: EventFilter | undefined): Promise<{ events: AgentEvent[]; through: number }> {
    if (!filter) {
      const events = await this.read(streamId, afterId, limit);
      return { events, through: events.at(-1)?.id ?? afterId };
    }
    // Every seq up to a committed head is committed (the head's row lock orders the appends).
    const head = await this.head(streamId);
    const rows = await this.database.db
      .select()
      .from(agentEvents)
      .where(
        and(
          eq(agentEvents.streamId, streamId),
          gt(agentEvents.seq, afterId),
          lte(agentEvents.seq, head),
          filter.sessionId ? eq(agentEvents.sessionId, filter.sessionId) : undefined,
          filter.taskId ? eq(agentEvents.taskId, filter.taskId) : undefined,
        ),
      )
      .orderBy(asc(agentEvents.seq))
      .limit(limit);
    const events = rows.map(toAgentEvent);
    return { events, through: events.length < limit ? Math.max(head, afterId) : events.at(-1)!.id };
  }

  /** The newest seq retention pruned from the stream (0 when none was). */
  async prunedThrough(streamId: string): Promise<number> {
    const [row] = await this.database.db.select({ pruned: eventStreams.prunedThrough }).from(eventStreams).where(eq(eventStreams.streamId, streamId));
    return row?.pruned ?? 0;
  }

  /**
   * Events after `afterId` from the stream's shared window: empty when there is
   * nothing newer yet, undefined when the stream is not followed here or `afterId`
   * is older than the window (the caller reads the database itself).
   */
  recent(streamId: string, afterId: number, limit = 500): AgentEvent[] | undefined {
    return this.followed.get(streamId)?.window.after(afterId, limit);
  }

  /** The id of the stream's newest event (0 when empty). */
  async head(streamId: string): Promise<number> {
    const [row] = await this.database.db.select({ head: eventStreams.head }).from(eventStreams).where(eq(eventStreams.streamId, streamId));
    const head = row?.head ?? 0;
    this.advance(streamId, head);
    this.catchUp(streamId);
    return head;
  }

  /**
   * Resolves when the stream may have moved past `afterId` (for a followed stream:
   * its window has), on abort, or after the poll interval.
   */
  waitForMore(streamId: string, afterId: number, signal?: AbortSignal): Promise<void> {
    if (this.known(streamId) > afterId || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(streamId);
      if (!set) {
        set = new Set();
        this.waiters.set(streamId, set);
      }
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

  /**
   * Takes one of `max` stream slots of this process, or answers undefined when all
   * are taken (the caller answers 503). The returned function gives it back.
   */
  admit(max: number): (() => void) | undefined {
    if (this.openStreams >= max) return undefined;
    this.openStreams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.openStreams--;
    };
  }

  /** Streams open in this process (SSE and subscriptions), for status and metrics. */
  get streamsOpen(): number {
    return this.openStreams;
  }

  /**
   * Counts a follower of `streamId` until the returned function is called. The
   * first follower opens the stream's shared window at the newest id known (ask
   * `head` first), the last one closes it.
   */
  follow(streamId: string): () => void {
    let f = this.followed.get(streamId);
    if (!f) {
      const recheck = setInterval(() => void this.head(streamId).catch(() => {}), this.pollFallbackMs);
      recheck.unref();
      f = { window: new StreamWindow(this.heads.get(streamId) ?? 0, this.windowLimits), followers: 0, filling: false, again: false, recheck };
      this.followed.set(streamId, f);
    }
    const entry = f;
    entry.followers++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (--entry.followers > 0) return;
      clearInterval(entry.recheck);
      if (this.followed.get(streamId) === entry) this.followed.delete(streamId);
    };
  }

  /** The stream's window size (undefined when not followed): the fan-out test checks it stays within its cap. */
  windowSize(streamId: string): { events: number; bytes: number } | undefined {
    return this.followed.get(streamId)?.window.size;
  }

  /**
   * Resolves once every follower in this process waits for more (it has sent all
   * it knows of), or after `timeoutMs`: on shutdown, so the last events written
   * (a run's `aborted` end) reach the clients before their streams close.
   */
  async followersCaughtUp(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    const caughtUp = () => [...this.followed].every(([stream, f]) => (this.waiters.get(stream)?.size ?? 0) >= f.followers);
    while (!caughtUp() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  /** The newest id a follower can read without the database: the window's end, or the head. */
  private known(streamId: string): number {
    return this.followed.get(streamId)?.window.end ?? this.heads.get(streamId) ?? 0;
  }

  private advance(streamId: string, head: number): void {
    if (!Number.isFinite(head) || head <= (this.heads.get(streamId) ?? 0)) return;
    this.heads.set(streamId, head);
    if (this.followed.has(streamId)) this.catchUp(streamId);
    else this.wake(streamId);
    for (const watch of this.watchers) watch(streamId, head);
  }

  /** Starts a fill when the stream's window is behind its known head (after a gap, a hint, or an outage). */
  private catchUp(streamId: string): void {
    const f = this.followed.get(streamId);
    if (f && f.window.end < (this.heads.get(streamId) ?? 0)) void this.fill(streamId, f);
  }

  /** Reads the stream's new events into its window, once for all its followers. */
  private async fill(streamId: string, f: Followed): Promise<void> {
    if (f.filling) {
      f.again = true;
      return;
    }
    f.filling = true;
    try {
      do {
        f.again = false;
        const target = this.heads.get(streamId) ?? 0;
        while (f.window.end < target && this.followed.get(streamId) === f) {
          // Far behind (a burst while the database was away): skip ahead; followers behind read the database.
          if (target - f.window.end > this.windowLimits.maxEvents) f.window = new StreamWindow(target - this.windowLimits.maxEvents, this.windowLimits);
          const rows = await this.read(streamId, f.window.end, fillPage);
          if (rows.length === 0) break;
          f.window.push(rows);
          this.wake(streamId);
        }
      } while (f.again);
    } catch {
      // The database is away: the timed re-check tries again.
    } finally {
      f.filling = false;
    }
  }

  private wake(streamId: string): void {
    const set = this.waiters.get(streamId);
    if (set) for (const wake of [...set]) wake();
  }

  private readonly observers = new Set<(streamId: string, stored: readonly AgentEvent[]) => void>();

  /** Calls `onStored` with the events this process stored, once each, right after their commit (logs and metrics). */
  observe(onStored: (streamId: string, stored: readonly AgentEvent[]) => void): () => void {
    this.observers.add(onStored);
    return () => this.observers.delete(onStored);
  }

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
