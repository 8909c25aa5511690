/**
 * The recent events of one stream, held once per process and shared by every
 * follower of that stream: fan-out costs one database read per stream, not one
 * per subscriber. The window holds a contiguous run of ids ending at `end`, the
 * newest id this process has read; it is capped by count and by bytes, dropping
 * its oldest events first. A follower whose cursor is older than the window reads
 * the database by itself until it catches up, then reads from here again.
 */
import type { AgentEvent } from "../../contracts/events.js";

export interface WindowLimits {
  /** Most bytes of event JSON held (CODETETHER_STREAM_WINDOW_BYTES). */
  maxBytes: number;
  /** Most events held, whatever their size. */
  maxEvents: number;
}

export class StreamWindow {
  private readonly events: AgentEvent[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    /** The newest id known to be stored when the window opened: ids up to here are read from the database. */
    public end: number,
    private readonly limits: WindowLimits,
  ) {}

  /** The oldest id held (end + 1 when empty). */
  get start(): number {
    return this.end - this.events.length + 1;
  }

  /**
   * Up to `max` events after `cursor`, oldest first: empty when the follower has
   * everything, undefined when `cursor` is older than the window (read the database).
   */
  after(cursor: number, max: number): AgentEvent[] | undefined {
    if (cursor >= this.end) return [];
    if (cursor < this.start - 1) return undefined;
    const from = cursor - this.start + 1;
    return this.events.slice(from, from + max);
  }

  /**
   * Adds events that continue the window (ids end + 1, end + 2, ...; older ones are
   * skipped). Returns false at the first gap: the caller reads the missing ids.
   */
  push(events: readonly AgentEvent[]): boolean {
    for (const event of events) {
      if (event.id <= this.end) continue;
      if (event.id !== this.end + 1) return false;
      const size = approximateBytes(event);
      this.events.push(event);
      this.sizes.push(size);
      this.bytes += size;
      this.end = event.id;
    }
    this.trim();
    return true;
  }

  private trim(): void {
    let drop = 0;
    while (this.events.length - drop > this.limits.maxEvents || (this.bytes > this.limits.maxBytes && this.events.length - drop > 1)) {
      this.bytes -= this.sizes[drop]!;
      drop++;
    }
    if (drop > 0) {
      this.events.splice(0, drop);
      this.sizes.splice(0, drop);
    }
  }

  /** Bytes held, for metrics and tests. */
  get size(): { events: number; bytes: number } {
    return { events: this.events.length, bytes: this.bytes };
  }
}

/**
 * What an event costs to hold, near enough: its text fields dominate (output
 * chunks, tool results), counted at two bytes a character as V8 may store them.
 */
function approximateBytes(event: AgentEvent): number {
  let bytes = 64;
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === "string") bytes += 2 * value.length + 16;
    else if (typeof value === "number" || typeof value === "boolean" || value === null) bytes += 8;
    else if (depth < 8 && Array.isArray(value)) for (const v of value) visit(v, depth + 1);
    else if (depth < 8 && value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        bytes += 2 * k.length + 16;
        visit(v, depth + 1);
      }
    }
  };
  visit(event.data, 0);
  return bytes;
}
