/**
 * Every session of every codebase the key may see, newest activity first: what a person opens to find "that
 * run from this morning". Filter by codebase and status, search titles; the list refreshes as streams move.
 */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { dollars, Empty, ErrorNote, Loading, SearchBox, ShowMore, when } from "../components/bits.tsx";
import { useClient } from "../context.tsx";
import { usePaged, useSettled } from "../paged.ts";
import { pages, queries, type SessionFilter } from "../queries.ts";

const statuses = ["running", "completed", "failed", "aborted", "idle"] as const;

export function AllSessionsPage() {
  const client = useClient();
  const codebases = useQuery(queries(client).codebases());
  const [codebase, setCodebase] = useState("");
  const [status, setStatus] = useState<SessionFilter["status"] | "">("");
  const [search, setSearch] = useState("");
  const q = useSettled(search.trim());
  const filter: SessionFilter = { ...(codebase ? { codebase_id: codebase } : {}), ...(status ? { status } : {}), ...(q ? { q } : {}) };
  const sessions = usePaged(pages(client).allSessions(filter));
  const names = new Map((codebases.data ?? []).map((c) => [c.id, c.name]));
  const filtered = Boolean(codebase || status || q);
  return (
    <section>
      <div className="page-head">
        <h1>Sessions</h1>
        <Link className="button" href="/run">
          Run an agent
        </Link>
      </div>
      <div className="filters">
        <SearchBox value={search} onChange={setSearch} label="Search titles" />
        <label>
          <span className="sr-only">Codebase</span>
          <select aria-label="Codebase" value={codebase} onChange={(e) => setCodebase(e.target.value)}>
            <option value="">All codebases</option>
            {(codebases.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="sr-only">Status</span>
          <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value as SessionFilter["status"] | "")}>
            <option value="">Any status</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {sessions.isPending ? <Loading /> : null}
      {sessions.error ? <ErrorNote error={sessions.error} /> : null}
      {sessions.items?.length === 0 && filtered ? (
        <Empty title="No session matches">
          <button
            type="button"
            className="link"
            onClick={() => {
              setCodebase("");
              setStatus("");
              setSearch("");
            }}
          >
            Clear the filters
          </button>{" "}
          to see every session.
        </Empty>
      ) : null}
      {sessions.items?.length === 0 && !filtered ? (
        <Empty title="No sessions yet">
          <Link href="/run">Run an agent</Link> on a codebase, or <Link href="/codebases">register one</Link> first. Sessions made in OpenCode directly appear
          once a codebase's sessions are synced.
        </Empty>
      ) : null}
      {sessions.items && sessions.items.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Sessions of every codebase, newest activity first</caption>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Codebase</th>
                <th scope="col">Status</th>
                <th scope="col">Agent · model</th>
                <th scope="col">Cost</th>
                <th scope="col">By</th>
                <th scope="col">Last activity</th>
              </tr>
            </thead>
            <tbody>
              {sessions.items.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link href={s.status === "running" ? `/run/${s.codebase_id}/${s.id}?from=0` : `/codebases/${s.codebase_id}/sessions/${s.id}`}>
                      {s.title || s.id}
                    </Link>
                  </td>
                  <td>
                    <Link href={`/codebases/${s.codebase_id}/sessions`}>{names.get(s.codebase_id) ?? s.codebase_id}</Link>
                  </td>
                  <td>
                    <span className={`pill pill-${s.status}`}>{s.status}</span>
                  </td>
                  <td>
                    {s.agent ?? "—"} · <span className="muted">{s.model ?? "default"}</span>
                  </td>
                  <td>{dollars(s.usage.steps > 0 ? s.usage.cost : s.cost)}</td>
                  <td>{s.created_by ?? "—"}</td>
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
