/** Codebases: what is registered, whether each is busy, and the forms to register, edit and remove them. */
import type { Codebase } from "@codetether/sdk";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { useCan } from "../can.ts";
import { errorText } from "../client.ts";
import { bytes, dollars, Empty, ErrorNote, Loading, ShowMore, tokens } from "../components/bits.tsx";
import { CodebaseForm } from "../components/CodebaseForm.tsx";
import { useClient } from "../context.tsx";
import { usePaged } from "../paged.ts";
import { keys, pages, queries } from "../queries.ts";

type Status = "idle" | "running" | "worker" | "worker offline";

export function CodebasesPage() {
  const client = useClient();
  const can = useCan();
  const queryClient = useQueryClient();
  const codebases = usePaged(pages(client).codebases());
  const workers = useQuery(queries(client).workers());
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.codebases });
  const remove = useMutation({ mutationFn: (id: string) => client.trpc.codebases.delete.mutate({ id }), onSuccess: refresh });
  const sync = useMutation({
    mutationFn: (id: string) => client.trpc.sessions.sync.mutate({ codebaseId: id }),
    onSuccess: (_r, id) => queryClient.invalidateQueries({ queryKey: keys.sessionsOf(id) }),
  });

  const statusOf = (c: Codebase): Status => {
    if (c.worker_id) {
      const w = workers.data?.find((x) => x.name === c.worker_id);
      return w?.status === "online" ? "worker" : "worker offline";
    }
    return c.runs_in_flight > 0 ? "running" : "idle";
  };

  return (
    <section>
      <div className="page-head">
        <h1>Codebases</h1>
        <button type="button" onClick={() => setAdding((a) => !a)} aria-expanded={adding} disabled={!can.write} title={can.whyNot || undefined}>
          {adding ? "Close" : "Register a codebase"}
        </button>
      </div>
      {adding ? (
        <CodebaseForm
          onDone={() => {
            setAdding(false);
            void refresh();
          }}
        />
      ) : null}
      {codebases.isPending ? <Loading /> : null}
      {codebases.error ? <ErrorNote error={codebases.error} /> : null}
      {codebases.items?.length === 0 && !adding ? (
        can.write ? (
          <Empty title="No codebases yet: register one">
            A codebase is a directory the agent works in, on this server or on a worker.{" "}
            <button type="button" className="link" onClick={() => setAdding(true)}>
              Register a codebase
            </button>
          </Empty>
        ) : (
          <Empty title="No codebases yet">A member or an admin of this server registers them; they will show here.</Empty>
        )
      ) : null}
      {codebases.items && codebases.items.length > 0 ? (
        <ul className="cards" aria-label="Codebases">
          {codebases.items.map((c) => {
            const status = statusOf(c);
            return (
              <li key={c.id} className="card" aria-label={c.name}>
                <div className="card-head">
                  <h2>{c.name}</h2>
                  <span className={`pill pill-${status.replace(" ", "-")}`}>{status}</span>
                </div>
                <p className="muted">
                  <code>{c.path}</code>
                  {c.worker_id ? (
                    <>
                      {" "}
                      on worker <strong>{c.worker_id}</strong>
                    </>
                  ) : null}
                  {c.created_by ? ` · registered by ${c.created_by}` : null}
                </p>
                {c.description ? <p>{c.description}</p> : null}
                <p className="muted">
                  {c.runs_in_flight > 0 ? (
                    <Link href={`/codebases/${c.id}/sessions`}>
                      <strong>
                        {c.runs_in_flight} run{c.runs_in_flight === 1 ? "" : "s"} in flight
                      </strong>
                    </Link>
                  ) : (
                    "No run in flight"
                  )}
                  {c.isolation === "worktree" ? " · each run in a worktree of its own" : c.isolation === "none" ? " · runs work in the directory itself" : ""}
                  {c.worktrees.count > 0 ? ` · ${c.worktrees.count} worktree${c.worktrees.count === 1 ? "" : "s"} kept, ${bytes(c.worktrees.disk_bytes)}` : ""}
                </p>
                {c.usage.steps > 0 ? (
                  <p className="muted">
                    Spent {dollars(c.usage.cost)} · {tokens(c.usage)}
                  </p>
                ) : null}
                {editing === c.id ? (
                  <CodebaseForm
                    codebase={c}
                    onDone={() => {
                      setEditing(null);
                      void refresh();
                    }}
                  />
                ) : null}
                <div className="actions">
                  {c.worker_id ? <Link href={`/tasks?codebase=${c.id}`}>Tasks</Link> : <Link href={`/run/${c.id}`}>Run an agent</Link>}
                  <Link href={`/codebases/${c.id}/sessions`}>Sessions</Link>
                  <button type="button" className="secondary" onClick={() => setEditing(editing === c.id ? null : c.id)}>
                    {editing === c.id ? "Cancel edit" : "Edit"}
                  </button>
                  {!c.worker_id ? (
                    <button type="button" className="secondary" disabled={sync.isPending} onClick={() => sync.mutate(c.id)}>
                      Sync sessions
                    </button>
                  ) : null}
                  {confirming === c.id ? (
                    <fieldset className="confirm" aria-label={`Confirm deleting ${c.name}`}>
                      Delete {c.name}, its sessions, tasks and events?
                      <button type="button" className="danger" onClick={() => remove.mutate(c.id)}>
                        Yes, delete
                      </button>
                      <button type="button" className="secondary" onClick={() => setConfirming(null)}>
                        Keep it
                      </button>
                    </fieldset>
                  ) : (
                    <button type="button" className="danger secondary" onClick={() => setConfirming(c.id)} aria-label={`Delete ${c.name}`}>
                      Delete
                    </button>
                  )}
                </div>
                {sync.data && sync.variables === c.id ? (
                  <p className="muted" role="status">
                    Synced: {sync.data.imported} imported, {sync.data.updated} updated, {sync.data.unchanged} unchanged.
                  </p>
                ) : null}
                {sync.error && sync.variables === c.id ? (
                  <p className="error-text" role="alert">
                    {errorText(sync.error)}
                  </p>
                ) : null}
              </li>
            );
          })}
        </ul>
      ) : null}
      <ShowMore list={codebases} />
      {remove.error ? <ErrorNote error={remove.error} /> : null}
    </section>
  );
}
