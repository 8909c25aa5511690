/** Workers: who is online, draining or gone, what they have and run, and when they were last heard from. */
import { useQuery } from "@tanstack/react-query";
import { Empty, ErrorNote, Loading, when } from "../components/bits.tsx";
import { useClient } from "../context.tsx";
import { queries } from "../queries.ts";

export function WorkersPage() {
  const client = useClient();
  const workers = useQuery(queries(client).workers());
  return (
    <section>
      <h1>Workers</h1>
      {workers.isPending ? <Loading /> : null}
      {workers.error ? <ErrorNote error={workers.error} /> : null}
      {workers.data?.length === 0 ? (
        <Empty title="No workers yet">
          Start one on the machine that has the code: <code>codetether-worker --server {window.location.origin} --codebase app:/path/to/app</code>
        </Empty>
      ) : null}
      {workers.data && workers.data.length > 0 ? (
        <ul className="cards" aria-label="Workers">
          {workers.data.map((w) => {
            const state = w.status === "online" ? (w.draining ? "draining" : "online") : "offline";
            return (
              <li key={w.name} className="card" aria-label={w.name}>
                <div className="card-head">
                  <h2>{w.name}</h2>
                  <span className={`pill pill-${state}`}>{state}</span>
                </div>
                <p>
                  {w.running_tasks} of {w.concurrency} slots busy · last heard {when(w.last_heartbeat_at)}
                </p>
                <p className="muted">Codebases: {w.codebases.length ? w.codebases.map((c) => `${c.name} (${c.path})`).join(", ") : "none"}</p>
                <p className="muted">Models: {w.models === null ? "not reported yet" : w.models.join(", ") || "none"}</p>
              </li>
            );
          })}
        </ul>
      ) : null}
    </section>
  );
}
