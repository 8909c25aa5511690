/** The server: is OpenCode there, which one, how it runs, and which models can run. */
import { useQuery } from "@tanstack/react-query";
import { ErrorNote, Loading } from "../components/bits.tsx";
import { useClient } from "../context.tsx";

export function StatusPage() {
  const client = useClient();
  const status = useQuery({ queryKey: ["status"], queryFn: () => client.trpc.status.get.query() });
  const models = useQuery({ queryKey: ["models"], queryFn: () => client.listModels() });
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
