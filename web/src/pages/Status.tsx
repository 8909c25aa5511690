/** The server: is OpenCode there, which one, how it runs, its database, what agents have spent, and which models can run. */
import { useQuery } from "@tanstack/react-query";
import { dollars, ErrorNote, Loading, tokens } from "../components/bits.tsx";
import { useClient } from "../context.tsx";
import { queries } from "../queries.ts";

export function StatusPage() {
  const client = useClient();
  const status = useQuery(queries(client).status());
  const models = useQuery(queries(client).models());
  const usage = useQuery(queries(client).usage());
  const s = status.data;
  const oc = s?.opencode_server;
  return (
    <section>
      <h1>Status</h1>
      {status.isPending ? <Loading /> : null}
      {status.error ? <ErrorNote error={status.error} /> : null}
      {s && oc ? (
        <div className="card">
          <div className="card-head">
            <h2>OpenCode</h2>
            <span className={`pill pill-${s.available ? "online" : "offline"}`}>{s.available ? "available" : "not available"}</span>
          </div>
          {s.message ? <p className="error-text">{s.message}</p> : null}
          <dl className="facts">
            <dt>Version</dt>
            <dd>{s.opencode_version ?? oc.version ?? "unknown"}</dd>
            <dt>Binary</dt>
            <dd>
              <code>{s.opencode_binary ?? "not found"}</code>
            </dd>
            <dt>Server</dt>
            <dd>
              {oc.mode} ({oc.state})
              {oc.url ? (
                <>
                  {" "}
                  at <code>{oc.url}</code>
                </>
              ) : null}
            </dd>
            <dt>Restarts</dt>
            <dd>{oc.restarts}</dd>
            {oc.last_error ? (
              <>
                <dt>Last error</dt>
                <dd>{oc.last_error}</dd>
              </>
            ) : null}
            <dt>Codebases</dt>
            <dd>{s.registered_codebases}</dd>
            <dt>Database</dt>
            <dd>{s.database === "pglite" ? "embedded PGlite" : "Postgres"}</dd>
          </dl>
        </div>
      ) : null}
      <div className="card">
        <div className="card-head">
          <h2>Spent in the last 30 days</h2>
          {usage.data ? <strong className="usage-total">{dollars(usage.data.total.cost)}</strong> : null}
        </div>
        {usage.error ? <ErrorNote error={usage.error} /> : null}
        {usage.data && usage.data.total.steps === 0 ? <p className="muted">Nothing yet: what agents spend shows here as they run.</p> : null}
        {usage.data && usage.data.total.steps > 0 ? (
          <>
            <p className="muted">
              {tokens(usage.data.total)} · {usage.data.total.steps.toLocaleString()} model steps
            </p>
            <div className="table-wrap">
              <table>
                <caption className="sr-only">Usage by model and runner, costliest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Runner</th>
                    <th scope="col">Steps</th>
                    <th scope="col">Tokens</th>
                    <th scope="col">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {usage.data.groups.map((g) => (
                    <tr key={`${g.model}/${g.worker}`}>
                      <td>
                        <code>{g.model}</code>
                      </td>
                      <td>{g.worker === "local" ? "this server" : g.worker}</td>
                      <td>{g.steps.toLocaleString()}</td>
                      <td>{tokens(g)}</td>
                      <td>{dollars(g.cost)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
      </div>
      <div className="card">
        <h2>Models</h2>
        {models.data?.message ? <p className="muted">{models.data.message}</p> : null}
        <ul>
          {models.data?.models
            .filter((m) => m.available)
            .map((m) => (
              <li key={m.id}>
                <strong>{m.name}</strong> <code>{m.id}</code> on {m.available_on.join(", ")}
                {m.id === models.data?.default ? " (default)" : ""}
              </li>
            ))}
        </ul>
      </div>
    </section>
  );
}
