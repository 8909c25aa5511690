/** A real SSE client over fetch, for tests: collects events, retry and comments. */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface SseConnection {
  status: number;
  headers: Headers;
  events: EventSourceMessage[];
  retry: number | undefined;
  comments: string[];
  /** Resolves once `n` events arrived in total (rejects if the stream ends first). */
  waitFor(n: number): Promise<EventSourceMessage[]>;
  close(): void;
  ended: Promise<void>;
}

export async function connectSse(url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
  const conn: SseConnection = {
    status: res.status,
    headers: res.headers,
    events: [],
    retry: undefined,
    comments: [],
    waitFor: async () => [],
    close: () => controller.abort(),
    ended: Promise.resolve(),
  };
  if (!res.ok || !res.body) return conn;
  let wake: () => void = () => {};
  let finished = false;
  const parser = createParser({
    onEvent: (e) => {
      conn.events.push(e);
      wake();
    },
    onRetry: (ms) => (conn.retry = ms),
    onComment: (c) => conn.comments.push(c),
  });
  const body = res.body;
  conn.ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted by close()
    } finally {
      finished = true;
      wake();
    }
  })();
  conn.waitFor = async (n) => {
    while (conn.events.length < n) {
      if (finished) throw new Error(`stream ended after ${conn.events.length} of ${n} events`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return conn.events.slice(0, n);
  };
  return conn;
}
