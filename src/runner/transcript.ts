/**
 * Keeps the server's copy of a worker-run session's transcript up to date: reads
 * the session's messages from the worker's OpenCode and sends the ones that are
 * new or changed since the last sync, in batches that fit a request body. The
 * server stores them idempotently, so a resent batch (a retry, a failover) is harmless.
 */
import { createHash } from "node:crypto";
import type { OcMessage } from "../opencode/client.js";

/** Bytes of messages per upload, well inside the server's default 1 MiB body limit. */
const batchBytes = 512 * 1024;
const batchMessages = 100;
/** One message alone must fit the server's default body limit (1 MiB), with room for the envelope. */
const maxMessageBytes = 1024 * 1024 - 4096;

export class TranscriptSync {
  private readonly sent = new Map<string, string>();
  private last: Promise<void> = Promise.resolve();

  constructor(
    private readonly read: () => Promise<OcMessage[]>,
    private readonly send: (messages: OcMessage[]) => Promise<void>,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** Sends what changed since the last sync (one sync at a time; a call made during one runs after it). */
  sync(): Promise<void> {
    this.last = this.last.catch(() => {}).then(() => this.once());
    return this.last;
  }

  private async once(): Promise<void> {
    const list = await this.read();
    const changed = list.flatMap((m) => {
      const text = JSON.stringify(m);
      const print = createHash("sha1").update(text).digest("base64");
      if (this.sent.get(m.info.id) === print) return [];
      const bytes = Buffer.byteLength(text);
      if (bytes > maxMessageBytes) {
        // Larger than a request may be: it stays in the worker's OpenCode, the rest still goes.
        this.log(`message ${m.info.id} is ${bytes} bytes, more than an upload takes; it is left out of the server's transcript`);
        this.sent.set(m.info.id, print);
        return [];
      }
      return [{ m, print, bytes }];
    });
    for (let i = 0; i < changed.length; ) {
      const batch: typeof changed = [];
      let bytes = 0;
      while (i < changed.length && batch.length < batchMessages && (batch.length === 0 || bytes + changed[i]!.bytes <= batchBytes)) {
        bytes += changed[i]!.bytes;
        batch.push(changed[i++]!);
      }
      await this.send(batch.map((b) => b.m));
      for (const b of batch) this.sent.set(b.m.info.id, b.print);
    }
  }
}
