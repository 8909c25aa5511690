/**
 * Run and task transitions, logged and counted from the one place they are all
 * recorded: the events this process stores. A run starting, retrying, ending; a
 * task claimed, requeued, released, retried or given up on: each is a `status`, `error` or
 * `complete` event, whether the server's runner, OpenCode or a worker's upload
 * produced it, so each is logged once, by the process that stored it.
 */
import type { AgentEvent } from "../contracts/events.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

/** Runs whose start this process saw, for their duration; bounded, oldest forgotten first. */
const maxTracked = 10_000;

export class TransitionObserver {
  private readonly started = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Called with the events of one stream this process just stored. */
  stored(codebaseId: string, events: readonly AgentEvent[]): void {
    for (const event of events) {
      this.metrics.eventsAppended.inc({ type: event.type });
      if (event.type === "status") this.status(codebaseId, event);
      else if (event.type === "complete") this.complete(codebaseId, event);
      else if (event.type === "usage") {
        const u = event.data;
        for (const [kind, n] of [
          ["input", u.input_tokens],
          ["output", u.output_tokens],
          ["reasoning", u.reasoning_tokens],
          ["cache_read", u.cache_read_tokens],
          ["cache_write", u.cache_write_tokens],
        ] as const) {
          if (n > 0) this.metrics.usageTokens.inc({ kind }, n);
        }
        if (u.cost > 0) this.metrics.usageCost.inc(u.cost);
      } else if (event.type === "error") {
        this.log.warn({ ...ids(codebaseId, event), error: event.data.name, message: event.data.message }, "run error");
      }
    }
  }

  private status(codebaseId: string, event: Extract<AgentEvent, { type: "status" }>): void {
    const { status, message, attempt, next_attempt_at, agent, model } = event.data;
    const fields = { ...ids(codebaseId, event), status, attempt, message, agent, model, next_attempt_at };
    switch (status) {
      case "running": {
        const key = runKey(event);
        if (key) {
          if (this.started.size >= maxTracked) this.started.delete(this.started.keys().next().value!);
          this.started.set(key, Date.now());
        }
        this.log.info(fields, "run started");
        return;
      }
      case "retrying":
        this.log.warn(fields, "run retrying: the model provider failed");
        return;
      case "requeued":
        this.metrics.requeues.inc();
        this.log.warn(fields, "task requeued");
        return;
      case "claimed":
      case "released":
      case "retried":
      case "failed":
      case "cancelling":
      case "aborting":
        this.log.info(fields, `task ${status}`);
        return;
      default:
        this.log.debug(fields, `run ${status}`);
    }
  }

  private complete(codebaseId: string, event: Extract<AgentEvent, { type: "complete" }>): void {
    const outcome = event.data.status;
    const key = runKey(event);
    const since = key ? this.started.get(key) : undefined;
    if (key) this.started.delete(key);
    const seconds = since === undefined ? undefined : (Date.now() - since) / 1000;
    this.metrics.runs.inc({ outcome });
    if (seconds !== undefined) this.metrics.runDuration.observe({ outcome }, seconds);
    const fields = {
      ...ids(codebaseId, event),
      outcome,
      error: event.data.error,
      duration_s: seconds === undefined ? undefined : Math.round(seconds * 1000) / 1000,
    };
    if (outcome === "completed") this.log.info(fields, "run completed");
    else this.log.warn(fields, `run ${outcome}`);
  }
}

/** A run is one session's turn; a run that failed before it had a session is known by its run id. */
function runKey(event: AgentEvent): string | undefined {
  return event.data.session_id ?? (event.data as { run_id?: string }).run_id ?? event.task_id;
}

function ids(codebaseId: string, event: AgentEvent) {
  const data = event.data as { session_id: string | null; task_id?: string; run_id?: string; worker?: string };
  return { codebase_id: codebaseId, session_id: data.session_id ?? undefined, task_id: event.task_id ?? data.task_id, run_id: data.run_id, event_id: event.id };
}
