/**
 * An agent run as rows a person reads, built from its events as they arrive:
 * streamed text grows one row per part, each tool call is one row that changes
 * state in place, permission requests carry their answer. Incremental: feeding
 * events again from where it stopped costs only the new ones.
 */
import type { AgentEvent, EventOf } from "@codetether/sdk";

export type Row =
  | { kind: "text"; key: string; text: string }
  | { kind: "reasoning"; key: string; text: string }
  | { kind: "tool"; key: string; event: EventOf<"tool_use">["data"] }
  | { kind: "file"; key: string; action: string; path: string }
  | { kind: "permission"; key: string; event: EventOf<"permission">["data"] }
  | { kind: "error"; key: string; name: string; message: string }
  | { kind: "note"; key: string; text: string }
  | { kind: "end"; key: string; status: string; error?: string };

export interface RunModel {
  rows: Row[];
  byKey: Map<string, Row>;
  seen: number;
  status: string;
  sessionId: string | null;
  tokens: { input: number; output: number; reasoning: number; cache: number };
  cost: number;
  done: boolean;
  /** The run's latest diff (its worktree against the base), and how many diff events came: a new one means refetch. */
  diff: { files: number; additions: number; deletions: number } | null;
  diffs: number;
}

export function emptyModel(): RunModel {
  return {
    rows: [],
    byKey: new Map(),
    seen: 0,
    status: "waiting",
    sessionId: null,
    tokens: { input: 0, output: 0, reasoning: 0, cache: 0 },
    cost: 0,
    done: false,
    diff: null,
    diffs: 0,
  };
}

function upsert(model: RunModel, row: Row): void {
  const existing = model.byKey.get(row.key);
  if (existing) Object.assign(existing, row);
  else {
    model.byKey.set(row.key, row);
    model.rows.push(row);
  }
}

/** Feeds the events not seen yet into the model; returns it (mutated). */
export function feed(model: RunModel, events: readonly AgentEvent[]): RunModel {
  for (; model.seen < events.length; model.seen++) apply(model, events[model.seen]!);
  return model;
}

function apply(model: RunModel, event: AgentEvent): void {
  const sid = (event.data as { session_id?: string | null }).session_id;
  if (sid) model.sessionId = sid;
  switch (event.type) {
    case "output":
    case "reasoning": {
      const key = `${event.type}:${event.data.part_id}`;
      const row = model.byKey.get(key) as { text: string } | undefined;
      if (row) row.text += event.data.content;
      else upsert(model, { kind: event.type === "output" ? "text" : "reasoning", key, text: event.data.content });
      return;
    }
    case "tool_use":
      upsert(model, { kind: "tool", key: `tool:${event.data.call_id}`, event: event.data });
      return;
    case "file_change":
      upsert(model, { kind: "file", key: `file:${event.id}`, action: event.data.action, path: event.data.path });
      return;
    case "permission": {
      const key = `perm:${event.data.permission_id}`;
      const before = (model.byKey.get(key) as { event?: EventOf<"permission">["data"] } | undefined)?.event;
      // An answer's event names only the reply: keep what was asked.
      const merged = {
        ...before,
        ...event.data,
        permission: event.data.permission || before?.permission || "",
        patterns: event.data.patterns.length ? event.data.patterns : (before?.patterns ?? []),
      };
      upsert(model, { kind: "permission", key, event: merged });
      return;
    }
    case "usage":
      model.tokens.input += event.data.input_tokens;
      model.tokens.output += event.data.output_tokens;
      model.tokens.reasoning += event.data.reasoning_tokens;
      model.tokens.cache += event.data.cache_read_tokens + event.data.cache_write_tokens;
      model.cost += event.data.cost;
      return;
    case "error":
      if (event.data.name === "MessageAbortedError") return; // the end row says it
      upsert(model, { kind: "error", key: `error:${event.id}`, name: event.data.name ?? "Error", message: event.data.message });
      return;
    case "status": {
      const { status, message } = event.data;
      if (status === "retrying") {
        upsert(model, { kind: "note", key: `note:${event.id}`, text: `The model provider failed${message ? `: ${message}` : ""}; retrying` });
      } else if (["claimed", "requeued", "released", "cancelling", "retried"].includes(status)) {
        upsert(model, { kind: "note", key: `note:${event.id}`, text: message ?? status });
      }
      // A retried task runs again: what follows is a new attempt, not the end.
      if (status === "retried") model.done = false;
      if (status === "running" && model.done) {
        // The session's next turn began (a queued follow-up): the view goes on with it.
        model.done = false;
        upsert(model, { kind: "note", key: `note:${event.id}`, text: "The next turn began: a queued follow-up" });
      }
      if (!model.done) model.status = status;
      return;
    }
    case "diff":
      model.diff = { files: event.data.files, additions: event.data.additions, deletions: event.data.deletions };
      model.diffs += 1;
      return;
    case "complete":
      model.done = true;
      model.status = event.data.status;
      upsert(model, { kind: "end", key: `end:${event.id}`, status: event.data.status, ...(event.data.error ? { error: event.data.error } : {}) });
      return;
    default:
      return;
  }
}
