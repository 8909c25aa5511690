/**
 * Following a codebase's event stream: replay from a cursor, then live. SSE reads
 * through `followEventBatches` and the tRPC subscription through `followEvents`, its
 * unbatched form, so they send the same events with the same ids.
 */

import { ServiceError } from "../../contracts/errors.js";
import type { AgentEvent, EventFilter } from "../../contracts/events.js";
import type { ServiceContext } from "../context.js";
import { untilDatabaseAnswers } from "../outage.js";

const pageSize = 500;

/**
 * Parses a client's Last-Event-ID. Absent is `undefined`: the stream starts live, at
 * its head (a client that wants history asks for it with `0`). Anything but a
 * non-negative integer is a client bug and gets a 400.
 */
export function parseCursor(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined || raw.trim() === "") return undefined;
  const text = raw.trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw new ServiceError("BAD_REQUEST", `Last-Event-ID must be a non-negative integer event id, got "${text.slice(0, 40)}"`);
  }
  return Number(text);
}

export interface FollowOptions {
  /** Send only events after this id; `undefined` starts at the stream's head (live only). */
  after: number | undefined;
  /** Send only this session's events (ids stay those of the codebase stream). */
  sessionId?: string;
  /** Send only this task's events, all its attempts (ids stay those of the codebase stream). */
  taskId?: string;
  signal: AbortSignal;
}

/**
 * Yields stored events after `after` (none when it is absent), then new ones as they are stored, until
 * `signal` aborts. A cursor above the stream's head (another database, a reset
 * stream) yields a `reset` event and replays from the start rather than hang silently.
 */
export async function* followEvents(input: { ctx: ServiceContext; streamId: string } & FollowOptions): AsyncGenerator<AgentEvent> {
  for await (const batch of followEventBatches(input)) yield* batch;
}

/**
 * `followEvents` in batches: every event available when the follower asks, up to
 * a page, so a transport can write them at once (one socket write for many events).
 */
export async function* followEventBatches({
  ctx,
  streamId,
  ...options
}: { ctx: ServiceContext; streamId: string } & FollowOptions): AsyncGenerator<AgentEvent[]> {
  const { signal } = options;
  const filter: EventFilter | undefined = options.sessionId || options.taskId ? { sessionId: options.sessionId, taskId: options.taskId } : undefined;
  const head = await ctx.events.head(streamId);
  let cursor = options.after ?? head;
  if (cursor > head) {
    yield [resetEvent(`Last-Event-ID ${cursor} is beyond this stream's newest event ${head}; replaying from the start`, head)];
    cursor = 0;
  } else if (cursor > 0) {
    // Resuming from an id retention has pruned past: say so (a replay from 0 asks for whatever is kept anyway).
    const pruned = await ctx.events.prunedThrough(streamId);
    if (cursor < pruned) {
      yield [resetEvent(`Events up to ${pruned} were pruned (CODETETHER_EVENT_RETENTION_DAYS); replaying from the oldest kept`, head)];
      cursor = pruned;
    }
  }
  const leave = ctx.events.follow(streamId);
  try {
    while (!signal.aborted) {
      // Caught-up followers share the stream's window; one that is behind it reads the database by itself
      // (only the matching events, through an index, when it follows one session or task).
      // An open stream waits an outage out (its pings go on) and carries on where it was.
      const recent = ctx.events.recent(streamId, cursor, pageSize);
      let page: AgentEvent[];
      let through: number;
      if (recent) {
        page = filter ? recent.filter((e) => matches(e, filter)) : recent;
        through = recent.at(-1)?.id ?? cursor;
      } else {
        const read = await untilDatabaseAnswers(() => ctx.events.readMatching(streamId, cursor, pageSize, filter), { signal });
        if (!read) return;
        page = read.events;
        through = read.through;
      }
      const moved = through > cursor;
      cursor = through;
      if (page.length > 0) {
        yield page;
        if (signal.aborted) return;
      }
      // A full page (of the window, or of the database) may have more right behind it.
      const full = recent ? recent.length === pageSize : page.length === pageSize;
      if (!full || !moved) await ctx.events.waitForMore(streamId, cursor, signal);
    }
  } finally {
    leave();
  }
}

function matches(e: AgentEvent, filter: EventFilter): boolean {
  return (!filter.sessionId || e.data.session_id === filter.sessionId) && (!filter.taskId || e.task_id === filter.taskId);
}

function resetEvent(reason: string, head: number): AgentEvent {
  return { id: 0, type: "reset", data: { session_id: null, reason, head }, created_at: new Date().toISOString() };
}

/**
 * Takes one of the process's stream slots (`CODETETHER_MAX_STREAMS`) for a new SSE
 * stream or subscription, or refuses with a 503 the client can retry.
 */
export function admitStream({ ctx }: { ctx: ServiceContext }): () => void {
  const release = ctx.events.admit(ctx.config.http.maxStreams);
  if (!release) {
    throw new ServiceError(
      "UNAVAILABLE",
      `This server already serves ${ctx.config.http.maxStreams} event streams (CODETETHER_MAX_STREAMS); try again shortly`,
      {
        retryAfterSeconds: 5,
      },
    );
  }
  return release;
}
