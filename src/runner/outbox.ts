/**
 * A runner's outgoing events for one attempt: numbered 1, 2, 3, ... in the order
 * they happened, sent in batches, resent until acknowledged. Nothing is dropped
 * while the server is unreachable; the server skips what it already has.
 */
import type { NewEvent } from "../contracts/events.js";

export interface OutgoingEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

/** Sends a batch; resolves with the highest seq the server has stored. Throws to retry later. */
export type SendBatch = (events: OutgoingEvent[]) => Promise<number>;

/** Whether an error is the server refusing the batch for good (a 4xx: resending would never help). */
export type IsRefusal = (err: unknown) => boolean;

const maxBatch = 200;

export class EventOutbox {
  private readonly pending: OutgoingEvent[] = [];
  private nextSeq = 1;
  private acked = 0;
  private sending: Promise<void> = Promise.resolve();
  /** Set and cleared by `loop` itself, so a push in any step after it saw nothing pending starts it again. */
  private running = false;
  private closed = false;
  private failures = 0;
  /** Events the server refused for good, and why: the attempt must not end `completed` without them. */
  refused = 0;
  refusal: string | undefined;

  constructor(
    private readonly send: SendBatch,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly isRefusal: IsRefusal = () => false,
  ) {}

  push(event: NewEvent): void {
    if (this.closed) return;
    this.pending.push({ seq: this.nextSeq++, type: event.type, data: event.data as Record<string, unknown> });
    this.kick();
  }

  /** Resolves once every event pushed so far is acknowledged. */
  async drain(): Promise<void> {
    while (!this.closed && this.acked < this.nextSeq - 1) {
      this.kick();
      await this.sending;
    }
  }

  /** Stops sending (the lease is gone; the server would refuse them anyway). */
  close(): void {
    this.closed = true;
  }

  private kick(): void {
    if (!this.running) this.sending = this.loop();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.pending.length > 0) {
        const batch = this.pending.slice(0, maxBatch);
        try {
          const acked = await this.send(batch);
          this.failures = 0;
          this.acked = Math.max(this.acked, acked);
          while (this.pending.length > 0 && this.pending[0]!.seq <= this.acked) this.pending.shift();
        } catch (err) {
          this.onError(err);
          if (this.closed) return;
          if (this.isRefusal(err)) {
            // Resending would be refused forever (and hold the task): drop it, and say so at the end.
            this.refused += batch.length;
            this.refusal ??= (err as Error).message;
            this.acked = Math.max(this.acked, batch.at(-1)!.seq);
            this.pending.splice(0, batch.length);
            continue;
          }
          this.failures++;
          // Jittered backoff, capped at 5 s, so a restarting server is not stampeded.
          const delay = Math.min(5000, 200 * 2 ** Math.min(this.failures, 5)) * (0.5 + Math.random() / 2);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
