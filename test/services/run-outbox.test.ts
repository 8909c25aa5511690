/**
 * A triggered run's outbox: every event pushed is stored, in order, whatever step of the
 * drain it arrives in. A run's last `error` (OpenCode killed) is pushed by a promise chain
 * that can land just as a drain finds its queue empty; it must start a new drain, not join
 * the one that is ending and stay unstored while the run's `complete` goes out.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NewEvent } from "../../src/contracts/events.js";
import { RunOutbox } from "../../src/services/sessions/run-outbox.js";

const output = (content: string): NewEvent => ({ type: "output", data: { session_id: "ses_o", message_id: "m", part_id: "p", content } });
const error: NewEvent = { type: "error", data: { session_id: "ses_o", name: "OpencodeUnavailable", message: "gone" } };

/** Resolves after `n` turns of the microtask queue. */
async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

describe("run outbox", () => {
  test("an event pushed in any microtask after a write is stored before flushed() resolves", async () => {
    for (let depth = 0; depth <= 12; depth++) {
      const stored: NewEvent[] = [];
      let outbox: RunOutbox;
      let pushedLate = false;
      const append = async (events: NewEvent[]) => {
        stored.push(...events);
        if (!pushedLate) {
          pushedLate = true;
          // Lands `depth` microtasks after this write resolves: one of them is the step in which the drain ends.
          void ticks(depth).then(() => outbox.push(error));
        }
      };
      outbox = new RunOutbox(append, 1 << 20, new AbortController().signal, () => {});
      outbox.push(output("first"));
      await ticks(depth + 2);
      await outbox.flushed();
      assert.deepEqual(
        stored.map((e) => e.type),
        ["output", "error"],
        `pushed ${depth} microtask(s) after the write`,
      );
    }
  });

  test("events pushed while a write is in flight go in order, in the next write", async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const outbox = new RunOutbox(
      async (events) => {
        batches.push(events.map((e) => (e.data as { content?: string }).content ?? e.type));
        if (batches.length === 1) await new Promise<void>((r) => (release = r));
      },
      1 << 20,
      new AbortController().signal,
      () => {},
    );
    outbox.push(output("a"));
    outbox.push(output("b"));
    outbox.push(output("c"));
    release();
    await outbox.flushed();
    assert.deepEqual(batches, [["a"], ["b", "c"]]);
  });
});
