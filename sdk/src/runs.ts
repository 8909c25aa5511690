/** An agent run as the SDK hands it out: the trigger's answer plus its events until `complete`. */
import { runFilter } from "../../src/contracts/run-filter.js";
import type { AgentEvent, EventData, TriggerResponse } from "./types.js";

/** Options for reading a run to its end. */
export interface WaitOptions {
  /** Sees each event as it arrives (for streaming output to a user). */
  onEvent?: (event: AgentEvent) => void;
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A finished run. */
export interface RunResult {
  /** The server's answer to the trigger. */
  response: TriggerResponse;
  /** Every event of the run, in order, ending with `complete`. */
  events: AgentEvent[];
  /** The `complete` event's data: `status` is completed, failed, aborted or cancelled. */
  complete: EventData<"complete">;
}

/**
 * A started agent run. Iterate it (`for await (const event of run)`) to read its events
 * until `complete`; each iteration follows the run from its start, so none is missed.
 */
export interface AgentRun extends AsyncIterable<AgentEvent> {
  /** The server's answer to the trigger: session id, agent, model, and the cursor the run starts after. */
  readonly response: TriggerResponse;
  /** The run's events from its start, ending after `complete`; `signal` stops reading. */
  events(options?: { signal?: AbortSignal }): AsyncIterableIterator<AgentEvent>;
  /** Reads the run to its end and returns all its events. */
  wait(options?: WaitOptions): Promise<RunResult>;
}

/**
 * One run's events out of a codebase's stream when its session was not known at
 * trigger time: those carrying its `run_id` (its first `status`, or a failure to
 * start), and then every event of the session that first event named.
 */
export async function* eventsOfRun(source: AsyncIterable<AgentEvent>, runId: string): AsyncGenerator<AgentEvent, void, undefined> {
  const run = runFilter(runId);
  for await (const event of source) if (run.keeps(event)) yield event;
}

/** Yields `source` up to and including the first `complete`, then closes it. */
export async function* untilComplete(source: AsyncIterable<AgentEvent>): AsyncGenerator<AgentEvent, void, undefined> {
  for await (const event of source) {
    yield event;
    if (event.type === "complete") return;
  }
}

/** Builds the run object over `follow`, which opens the run's event stream from its start. */
export function agentRun(response: TriggerResponse, follow: (signal?: AbortSignal) => AsyncIterable<AgentEvent>): AgentRun {
  const events = (options?: { signal?: AbortSignal }) => untilComplete(follow(options?.signal));
  return {
    response,
    events,
    [Symbol.asyncIterator]: () => events(),
    async wait(options) {
      const seen: AgentEvent[] = [];
      for await (const event of events({ signal: options?.signal })) {
        seen.push(event);
        options?.onEvent?.(event);
        if (event.type === "complete") return { response, events: seen, complete: event.data };
      }
      // The stream ended without `complete`: the server shut down mid-run.
      throw new Error(`The event stream of session ${response.session_id} ended before the run completed`);
    },
  };
}
