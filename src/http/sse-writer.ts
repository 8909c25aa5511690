/**
 * Writing a Server-Sent Events stream. On the Node server the text goes straight to
 * the socket (`ServerResponse.write`, waiting for `drain` when it is full): a
 * hundred followers of a busy stream cost a hundred socket writes per batch and
 * nothing more. Elsewhere (tests through `app.request`, other runtimes) it goes
 * through Hono's web stream, which behaves the same but costs more per write.
 */
import type { ServerResponse } from "node:http";
import type { Context } from "hono";
import { stream as honoStream } from "hono/streaming";

export interface SseWriter {
  /** Resolves true once the text is handed to the socket (after a `drain` if it was full), false if the client is gone. */
  write(text: string): Promise<boolean>;
  /** Milliseconds the current write has waited for the client to read (0 when none waits). */
  blockedForMs(): number;
  /** Ends the stream. */
  end(): void;
  /** Aborts when the client goes away or the stream ends. */
  closed: AbortSignal;
}

const sseHeaders = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  connection: "keep-alive",
  "x-accel-buffering": "no",
  "x-content-type-options": "nosniff",
};

/**
 * Answers the request with an event stream and runs `body` with its writer; the
 * answer is sent at once, the body keeps writing until it returns or the client leaves.
 */
export function respondWithSse(c: Context, body: (writer: SseWriter) => Promise<void>): Response {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (outgoing) {
    // Headers middleware set on the context (CORS, request id) go out with ours.
    const headers: Record<string, string> = {};
    c.res.headers.forEach((value, key) => {
      if (key !== "content-type" && key !== "content-length") headers[key] = value;
    });
    outgoing.writeHead(200, { ...headers, ...sseHeaders });
    outgoing.flushHeaders();
    const writer = nodeWriter(outgoing);
    void body(writer).finally(() => writer.end());
    // The head is sent; the server swaps whatever the app answers for "already sent" (see server.ts).
    return c.body(null);
  }
  for (const [k, v] of Object.entries(sseHeaders)) c.header(k, v);
  return honoStream(c, async (stream) => {
    const closed = new AbortController();
    stream.onAbort(() => closed.abort());
    let since = 0;
    await body({
      write: async (text) => {
        if (closed.signal.aborted) return false;
        since = Date.now();
        await stream.write(text);
        since = 0;
        return !closed.signal.aborted;
      },
      blockedForMs: () => (since === 0 ? 0 : Date.now() - since),
      end: () => closed.abort(),
      closed: closed.signal,
    });
  });
}

function nodeWriter(res: ServerResponse): SseWriter {
  const closed = new AbortController();
  let since = 0;
  let waiting: ((ok: boolean) => void) | undefined;
  const finish = () => {
    closed.abort();
    waiting?.(false);
    waiting = undefined;
  };
  res.once("close", finish);
  res.on("error", finish);
  return {
    write(text) {
      if (closed.signal.aborted || res.destroyed) return Promise.resolve(false);
      if (res.write(text)) return Promise.resolve(true);
      since = Date.now();
      return new Promise((resolve) => {
        waiting = resolve;
        res.once("drain", () => {
          since = 0;
          waiting = undefined;
          resolve(!closed.signal.aborted);
        });
      });
    },
    blockedForMs: () => (since === 0 ? 0 : Date.now() - since),
    end() {
      if (!res.writableEnded) res.end();
      finish();
    },
    closed: closed.signal,
  };
}
