/**
 * Following a codebase's event stream: replay from a cursor, then live. SSE and
 * the tRPC subscription both read through `followEvents`, so they send the same
 * events with the same ids.
 */

import type { ServiceContext } from "../context.js";
import { ServiceError } from "../errors.js";
import { untilDatabaseAnswers } from "../outage.js";
import type { AgentEvent } from "./types.js";

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
  signal: AbortSignal;
}

/**
 * Yields stored events after `after` (none when it is absent), then new ones as they are stored, until
 * `signal` aborts. A cursor above the stream's head (another database, a reset
 * stream) yields a `reset` event and replays from the start rather than hang silently.
 */
export async function* followEvents(ctx: ServiceContext, streamId: string, options: FollowOptions): AsyncGenerator<AgentEvent> {
  for await (const batch of followEventBatches(ctx, streamId, options)) yield* batch;
}

/**
 * `followEvents` in batches: every event available when the follower asks, up to
 * a page, so a transport can write them at once (one socket write for many events).
 */
export async function* followEventBatches(ctx: ServiceContext, streamId: string, options: FollowOptions): AsyncGenerator<AgentEvent[]> {
  const { signal, sessionId } = options;
  const head = await ctx.events.head(streamId);
  let cursor = options.after ?? head;
  if (cursor > head) {
    yield [
      {
        id: 0,
        type: "reset",
        data: { session_id: null, reason: `Last-Event-ID ${cursor} is beyond this stream's newest event ${head}; replaying from the start`, head },
        created_at: new Date().toISOString(),
      },
    ];
    cursor = 0;
  }
  const leave = ctx.events.follow(streamId);
  try {
    while (!signal.aborted) {
      // Caught-up followers share the stream's window; one that is behind it reads the database by itself.
      // An open stream waits an outage out (its pings go on) and carries on where it was.
      const page =
        ctx.events.recent(streamId, cursor, pageSize) ?? (await untilDatabaseAnswers(() => ctx.events.read(streamId, cursor, pageSize), { signal })) ?? [];
      if (page.length > 0) {
        cursor = page[page.length - 1]!.id;
        const batch = sessionId ? page.filter((e) => e.data.session_id === sessionId) : page;
        if (batch.length > 0) yield batch;
        if (signal.aborted) return;
      }
      if (page.length < pageSize) await ctx.events.waitForMore(streamId, cursor, signal);
    }
  } finally {
    leave();
  }
}

/**
 * Takes one of the process's stream slots (`CODETETHER_MAX_STREAMS`) for a new SSE
 * stream or subscription, or refuses with a 503 the client can retry.
 */
export function admitStream(ctx: ServiceContext): () => void {
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
