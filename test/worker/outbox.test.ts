/**
 * The runner's event outbox: events are resent until acknowledged, but a batch the
 * server refuses for good (a 4xx) is dropped and counted, so it cannot hold a task
 * running forever, and the attempt can say what it lost.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EventOutbox, type OutgoingEvent } from "../../src/runner/outbox.js";

const output = (content: string) => ({ type: "output" as const, data: { session_id: "ses_o", message_id: "m", part_id: "p", content } });

class Refused extends Error {}

describe("event outbox", () => {
  test("a batch refused for good is dropped and counted; the events after it still go", async () => {
    const stored: OutgoingEvent[] = [];
    let calls = 0;
    const outbox = new EventOutbox(
      async (batch) => {
        calls++;
        if (batch.some((e) => e.data.content === "bad")) throw new Refused("HTTP 422: tokens are whole");
        stored.push(...batch);
        return batch.at(-1)!.seq;
      },
      () => {},
      (err) => err instanceof Refused,
    );
    outbox.push(output("bad"));
    await outbox.drain();
    outbox.push(output("good"));
    await outbox.drain();
    assert.deepEqual(
      stored.map((e) => [e.seq, e.data.content]),
      [[2, "good"]],
    );
    assert.equal(outbox.refused, 1);
    assert.match(outbox.refusal!, /422/);
    assert.equal(calls, 2, "the refused batch was not resent");
  });

  test("a failure that may pass (the server away) is retried until it is acknowledged", async () => {
    let fail = 2;
    const stored: number[] = [];
    const outbox = new EventOutbox(
      async (batch) => {
        if (fail-- > 0) throw new Error("server unreachable");
        stored.push(...batch.map((e) => e.seq));
        return batch.at(-1)!.seq;
      },
      () => {},
      (err) => err instanceof Refused,
    );
    outbox.push(output("a"));
    outbox.push(output("b"));
    await outbox.drain();
    assert.deepEqual(stored, [1, 2]);
    assert.equal(outbox.refused, 0);
  });
});
