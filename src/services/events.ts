/**
 * Following a codebase's event stream: replay from a cursor, then live. SSE and
 * the tRPC subscription both read through `followEvents`, so they send the same
 * events with the same ids.
 */
import type { AgentEvent } from "./events.types.js";
import type { ServiceContext } from "./context.js";
import { ServiceError } from "./errors.js";

const pageSize = 500;

/**
 * Parses a client's Last-Event-ID. Absent means "from the start"; anything but a
 * non-negative integer is a client bug and gets a 400.
 */
export function parseCursor(raw: string | null | undefined): number {
  if (raw === null || raw === undefined || raw.trim() === "") return 0;
  const text = raw.trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw new ServiceError("BAD_REQUEST", `Last-Event-ID must be a non-negative integer event id, got "${text.slice(0, 40)}"`);
  }
  return Number(text);
}

export interface FollowOptions {
  /** Send only events after this id. */
  after: number;
  /** Send only this session's events (ids stay those of the codebase stream). */
  sessionId?: string;
  signal: AbortSignal;
}

/**
 * Yields stored events after `after`, then new ones as they are stored, until
 * `signal` aborts. A cursor above the stream's head (another database, a reset
 * stream) yields a `reset` event and replays from the start rather than hang silently.
 */
export async function* followEvents(ctx: ServiceContext, streamId: string, options: FollowOptions): AsyncGenerator<AgentEvent> {
  const { signal, sessionId } = options;
  let cursor = options.after;
  const head = await ctx.events.head(streamId);
  if (cursor > head) {
    yield {
      id: 0,
      type: "reset",
      data: { session_id: null, reason: `Last-Event-ID ${cursor} is beyond this stream's newest event ${head}; replaying from the start`, head },
      created_at: new Date().toISOString(),
    };
    cursor = 0;
  }
  while (!signal.aborted) {
    const page = await ctx.events.read(streamId, cursor, pageSize);
    for (const event of page) {
      cursor = event.id;
      if (sessionId && event.data.session_id !== sessionId) continue;
      yield event;
      if (signal.aborted) return;
    }
    if (page.length < pageSize) await ctx.events.waitForMore(streamId, cursor, signal);
  }
}
