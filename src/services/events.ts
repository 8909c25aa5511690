/**
 * Following a codebase's event stream: replay from a cursor, then live. SSE and
 * the tRPC subscription both read through `followEvents`, so they send the same
 * events with the same ids.
 */
import type { AgentEvent } from "./events.types.js";
import type { ServiceContext } from "./context.js";
import { isDatabaseUnavailable, ServiceError } from "./errors.js";

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
  const { signal, sessionId } = options;
  const head = await ctx.events.head(streamId);
  let cursor = options.after ?? head;
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
    const page = await ridingOutOutages(() => ctx.events.read(streamId, cursor, pageSize), signal);
    for (const event of page) {
      cursor = event.id;
      if (sessionId && event.data.session_id !== sessionId) continue;
      yield event;
      if (signal.aborted) return;
    }
    if (page.length < pageSize) await ctx.events.waitForMore(streamId, cursor, signal);
  }
}

/** How long a follower waits before reading again while the database is unreachable. */
const outageRetryMs = 1000;

/**
 * Runs `read` until it works, waiting out a database outage, so a stream that is
 * already open stays open (its pings go on) and carries on where it was once the
 * database is back. Ends with nothing when `signal` aborts; other errors pass.
 */
async function ridingOutOutages<T>(read: () => Promise<T[]>, signal: AbortSignal): Promise<T[]> {
  for (;;) {
    try {
      return await read();
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, outageRetryMs);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done, { once: true });
      });
      if (signal.aborted) return [];
    }
  }
}

