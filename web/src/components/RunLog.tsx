/**
 * A run as it happens: assistant text rendered as markdown while it streams,
 * reasoning folded away, one row per tool call that changes state in place, file
 * changes, permission requests with their buttons, errors, and how it ended.
 */
import type { AgentEvent } from "@codetether/sdk";
import Markdown from "markdown-to-jsx";
import { memo, useMemo, useRef } from "react";
import { emptyModel, feed, type Row, type RunModel } from "./run-model.ts";

export interface RunLogProps {
  /** The run so far (see useRunModel); its rows change in place as events arrive. */
  model: RunModel;
  onPermission?: (permissionId: string, reply: "once" | "always" | "reject") => void;
}

export function useRunModel(events: readonly AgentEvent[], version: number): RunModel {
  const model = useRef<RunModel>(emptyModel());
  const source = useRef(events);
  if (source.current !== events || events.length < model.current.seen) {
    source.current = events;
    model.current = emptyModel();
  }
  // biome-ignore lint/correctness/useExhaustiveDependencies: version says the array grew
  return useMemo(() => feed(model.current, events), [events, version]);
}

export function RunLog({ model, onPermission }: RunLogProps) {
  if (model.rows.length === 0) return <p className="muted">Waiting for the agent's first words…</p>;
  return (
    <ol className="runlog" aria-label="Run output" aria-live="polite">
      {model.rows.map((row) => (
        <RowView key={row.key} row={row} version={rowVersion(row)} onPermission={onPermission} />
      ))}
    </ol>
  );
}

/** What makes a row re-render: its text length, or its state. */
function rowVersion(row: Row): string {
  switch (row.kind) {
    case "text":
    case "reasoning":
      return String(row.text.length);
    case "tool":
      return `${row.event.status}:${row.event.output?.length ?? 0}`;
    case "permission":
      return row.event.state;
    default:
      return "";
  }
}

const RowView = memo(function RowView({ row, onPermission }: { row: Row; version: string; onPermission?: RunLogProps["onPermission"] }) {
  switch (row.kind) {
    case "text":
      return (
        <li className="row text">
          <Markdown options={{ forceBlock: true, disableParsingRawHTML: true }}>{row.text}</Markdown>
        </li>
      );
    case "reasoning":
      return (
        <li className="row reasoning">
          <details>
            <summary>Reasoning</summary>
            <p>{row.text}</p>
          </details>
        </li>
      );
    case "tool":
      return (
        <li className={`row tool tool-${row.event.status}`} aria-label={`Tool ${row.event.tool}: ${row.event.status}`}>
          <div className="tool-head">
            <span className="badge">{row.event.tool}</span>
            <span className="tool-title">{row.event.title ?? row.event.input ?? ""}</span>
            <span className={`state state-${row.event.status}`}>{row.event.status}</span>
          </div>
          {row.event.input && row.event.title ? <pre className="tool-io">{row.event.input}</pre> : null}
          {row.event.output ? <pre className="tool-io">{row.event.output}</pre> : null}
          {row.event.error ? <pre className="tool-io error-text">{row.event.error}</pre> : null}
        </li>
      );
    case "file":
      return (
        <li className="row file">
          <span className="badge">{row.action}</span> <code>{row.path}</code>
        </li>
      );
    case "permission": {
      const p = row.event;
      return (
        <li className="row permission" aria-label={`Permission request: ${p.permission}`}>
          <p>
            The agent asks for <strong>{p.permission || "permission"}</strong>
            {p.patterns.length ? (
              <>
                {" "}
                on <code>{p.patterns.join(", ")}</code>
              </>
            ) : null}
          </p>
          {p.state === "asked" && onPermission ? (
            <div className="actions">
              <button type="button" onClick={() => onPermission(p.permission_id, "once")}>
                Approve once
              </button>
              <button type="button" onClick={() => onPermission(p.permission_id, "always")}>
                Approve always
              </button>
              <button type="button" className="danger" onClick={() => onPermission(p.permission_id, "reject")}>
                Reject
              </button>
            </div>
          ) : (
            <p className="muted">{p.state === "asked" ? "Waiting for an answer" : p.state.replace("_", " ")}</p>
          )}
        </li>
      );
    }
    case "error":
      return (
        <li className="row error" role="alert">
          <strong>{row.name}</strong>: {row.message}
        </li>
      );
    case "note":
      return <li className="row note muted">{row.text}</li>;
    case "end":
      return (
        <li className={`row end end-${row.status}`}>
          Run {row.status}
          {row.error ? `: ${row.error}` : ""}
        </li>
      );
  }
});

export function UsageLine({ model }: { model: RunModel }) {
  const t = model.tokens;
  if (t.input + t.output === 0) return null;
  return (
    <p className="muted usage">
      {t.input.toLocaleString()} in · {t.output.toLocaleString()} out
      {t.reasoning ? ` · ${t.reasoning.toLocaleString()} reasoning` : ""}
      {t.cache ? ` · ${t.cache.toLocaleString()} cached` : ""} · ${model.cost.toFixed(4)}
    </p>
  );
}
