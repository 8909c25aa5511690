/** A codebase's sessions, most recent first, and one session's whole transcript. */
import type { RouterOutputs } from "@codetether/sdk";
import { useQuery } from "@tanstack/react-query";
import Markdown from "markdown-to-jsx";
import { useState } from "react";
import { Link, useParams } from "wouter";
import { dollars, Empty, ErrorNote, Loading, SearchBox, ShowMore, tokens, when } from "../components/bits.tsx";
import { useClient } from "../context.tsx";
import { usePaged, useSettled } from "../paged.ts";
import { pages, queries } from "../queries.ts";

type Message = RouterOutputs["sessions"]["get"]["messages"][number];

export function SessionsPage() {
  const { id } = useParams<{ id: string }>();
  const client = useClient();
  const codebase = useQuery(queries(client).codebase(id));
  const [search, setSearch] = useState("");
  const q = useSettled(search.trim());
  const sessions = usePaged(pages(client).sessions(id, q));
  return (
    <section>
      <div className="page-head">
        <h1>Sessions{codebase.data ? ` of ${codebase.data.name}` : ""}</h1>
        {codebase.data && !codebase.data.worker_id ? (
          <Link className="button" href={`/run/${id}`}>
            Start a new session
          </Link>
        ) : null}
      </div>
      <SearchBox value={search} onChange={setSearch} label="Search titles" />
      {sessions.isPending ? <Loading /> : null}
      {sessions.error ? <ErrorNote error={sessions.error} /> : null}
      {sessions.items?.length === 0 && q ? <Empty title={`No session title has “${q}”`}>Try fewer or shorter words.</Empty> : null}
      {sessions.items?.length === 0 && !q ? (
        <Empty title="No sessions yet">
          <Link href={`/run/${id}`}>Run an agent</Link> on this codebase, or sync the sessions made in OpenCode directly from the codebases page.
        </Empty>
      ) : null}
      {sessions.items && sessions.items.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Sessions, most recent first</caption>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Status</th>
                <th scope="col">Agent</th>
                <th scope="col">Model</th>
                <th scope="col">Messages</th>
                <th scope="col">Tokens</th>
                <th scope="col">Cost</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {sessions.items.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link href={`/codebases/${id}/sessions/${s.id}`}>{s.title || s.id}</Link>
                  </td>
                  <td>
                    <span className={`pill pill-${s.status}`}>{s.status}</span>
                  </td>
                  <td>{s.agent ?? "—"}</td>
                  <td>{s.model ?? "default"}</td>
                  <td>{s.message_count}</td>
                  <td>{s.usage.steps > 0 ? tokens(s.usage) : "—"}</td>
                  <td>{dollars(s.usage.steps > 0 ? s.usage.cost : s.cost)}</td>
                  <td>{when(s.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ShowMore list={sessions} />
    </section>
  );
}

export function SessionPage() {
  const { id, sessionId } = useParams<{ id: string; sessionId: string }>();
  const client = useClient();
  const session = useQuery(queries(client).session(id, sessionId));
  const s = session.data;
  return (
    <section>
      <p>
        <Link href={`/codebases/${id}/sessions`}>← All sessions</Link>
      </p>
      {session.isPending ? <Loading /> : null}
      {session.error ? <ErrorNote error={session.error} /> : null}
      {s ? (
        <>
          <div className="page-head">
            <h1>{s.title || s.id}</h1>
            <span className={`pill pill-${s.status}`}>{s.status}</span>
          </div>
          <p className="muted">
            {s.agent ?? "—"} · {s.model ?? "default model"} · {s.message_count} messages
            {s.usage.steps > 0 ? ` · ${s.usage.steps} steps · ${tokens(s.usage)}` : ""} · {dollars(s.usage.steps > 0 ? s.usage.cost : s.cost)}
            {s.error ? ` · ${s.error}` : ""}
          </p>
          <div className="actions">
            <Link className="button" href={`/run/${id}/${s.id}?from=0`}>
              Open the live view
            </Link>
            <Link className="button secondary" href={`/run/${id}`}>
              Start a new session
            </Link>
          </div>
          {s.messages.length === 0 ? <Empty title="No messages stored for this session yet" /> : null}
          {s.messages_truncated ? (
            <p className="muted" role="note">
              A long session: this shows its newest {s.messages.length.toLocaleString()} messages. The API reads all of them, a page at a time (
              <code>GET …/sessions/{s.id}/messages</code>).
            </p>
          ) : null}
          <ol className="transcript" aria-label="Transcript">
            {s.messages.map((m) => (
              <MessageView key={m.id} message={m} />
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}

function MessageView({ message }: { message: Message }) {
  const tools = (message.parts as { id?: string; callID?: string; type?: string; tool?: string; state?: { status?: string; title?: string } }[]).filter(
    (p) => p.type === "tool",
  );
  const tokens = message.tokens as { input?: number; output?: number } | null;
  return (
    <li className={`message message-${message.role}`}>
      <p className="muted">
        <strong>{message.role}</strong> · {when(message.created_at)}
        {tokens?.input ? ` · ${tokens.input} in / ${tokens.output ?? 0} out` : ""}
        {message.cost ? ` · $${message.cost.toFixed(4)}` : ""}
      </p>
      {message.text ? <Markdown options={{ forceBlock: true, disableParsingRawHTML: true }}>{message.text}</Markdown> : null}
      {tools.map((t, i) => (
        <p key={t.id ?? t.callID ?? `${t.tool}-${i}`} className="tool-head">
          <span className="badge">{t.tool}</span> <span className="tool-title">{t.state?.title ?? ""}</span>{" "}
          <span className={`state state-${t.state?.status}`}>{t.state?.status}</span>
        </p>
      ))}
    </li>
  );
}
