/**
 * A triggered run's events on their way into the event log: stored in the order
 * they happened, retried while the database cannot be reached (a restart, an
 * outage), and held in a buffer of bounded size meanwhile. Events that do not fit
 * are counted as lost, so the run can end `failed` saying so, never silently
 * `completed` with holes in its stream.
 */
import { isDatabaseUnavailable } from "../../contracts/errors.js";
import type { NewEvent } from "../../contracts/events.js";

const batchSize = 200;
const firstRetryMs = 100;
const maxRetryMs = 2000;

export class RunOutbox {
  private readonly queue: { event: NewEvent; bytes: number }[] = [];
  private bytes = 0;
  /** The drain in progress, if `running`. */
  private draining: Promise<void> = Promise.resolve();
  /**
   * Set and cleared inside `drain` itself, in the same step as it sees the queue empty: an event pushed in any
   * later step starts a new drain. (Clearing it in a `.finally` left a few microtasks in which a push, say a
   * run's last `error`, joined a drain that had already ended, and stayed in the queue unstored.)
   */
  private running = false;
  /** Events dropped because the buffer was full. */
  lost = 0;

  constructor(
    private readonly append: (events: NewEvent[]) => Promise<unknown>,
    private readonly maxBytes: number,
    /** Once it aborts (the server is shutting down) an outage is no longer waited out. */
    private readonly signal: AbortSignal,
    private readonly log: (message: string, err: unknown) => void,
  ) {}

  push(event: NewEvent): void {
    const bytes = JSON.stringify(event.data).length + 64;
    if (this.bytes + bytes > this.maxBytes) {
      this.lost += 1;
      return;
    }
    this.queue.push({ event, bytes });
    this.bytes += bytes;
    if (!this.running) this.draining = this.drain();
  }

  /** Resolves once everything pushed so far is stored (or dropped as unstorable). */
  async flushed(): Promise<void> {
    while (this.running) await this.draining;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      let delay = firstRetryMs;
      let failures = 0;
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, batchSize);
        try {
          await this.append(batch.map((b) => b.event));
        } catch (err) {
          if (isDatabaseUnavailable(err) && !this.signal.aborted) {
            if (failures++ === 0) this.log("the database is unavailable; holding the run's events until it is back", err);
            await new Promise((r) => setTimeout(r, delay));
            delay = Math.min(maxRetryMs, delay * 2);
            continue; // the same batch again, so the order holds
          }
          // Not a matter of waiting (a value the database refuses): it would fail forever.
          this.log(`storing ${batch.length} event(s) failed; they are dropped`, err);
          this.lost += batch.length;
        }
        if (failures > 0) this.log("the database is back; the run's held events are stored", null);
        failures = 0;
        delay = firstRetryMs;
        this.queue.splice(0, batch.length);
        for (const b of batch) this.bytes -= b.bytes;
      }
    } finally {
      this.running = false;
    }
  }
}
