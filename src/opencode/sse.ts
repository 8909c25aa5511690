/** Reads a text/event-stream response body as parsed messages. */
import { createParser, type EventSourceMessage } from "eventsource-parser";

/** Yields each SSE message of `body` until it ends; throws if the connection breaks. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => queue.push(m) });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      while (queue.length > 0) yield queue.shift()!;
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}
