/**
 * Webhooks (admins): where CodeTether tells other systems what happened. Register an endpoint for some event
 * types (its signing secret is shown once), send it a test, and read each endpoint's delivery log: what it
 * answered, how long it took, when it is tried next; redeliver what you need again. An endpoint that failed for
 * the whole retry window is shown disabled first, with why.
 */
import type { RouterOutputs } from "@codetether/sdk";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Empty, ErrorNote, Loading, ShownOnce, when } from "../components/bits.tsx";
import { useClient } from "../context.tsx";
import { keys, queries } from "../queries.ts";

type Webhook = RouterOutputs["webhooks"]["list"][number];
type EventType = Webhook["events"][number];

const eventTypes: { type: EventType; label: string }[] = [
  { type: "run.permission_requested", label: "A run needs a permission answer" },
  { type: "run.failed", label: "A run failed" },
  { type: "run.completed", label: "A run completed" },
  { type: "run.aborted", label: "A run was aborted" },
  { type: "run.started", label: "A run started" },
  { type: "diff.ready", label: "A run's diff is ready to review" },
  { type: "budget.exceeded", label: "A run went over its budget" },
  { type: "task.failed", label: "A task failed after its last attempt" },
  { type: "task.completed", label: "A task completed" },
  { type: "worker.offline", label: "A worker went offline" },
];
const defaults: EventType[] = ["run.permission_requested", "run.failed", "run.completed", "task.failed", "worker.offline", "budget.exceeded"];

export function WebhooksPage() {
  const client = useClient();
  // Pending counts and failures move with deliveries: refreshed more often than the 10 s default while shown.
  const list = useQuery({ ...queries(client).webhooks(), refetchInterval: 3000 });
  const [open, setOpen] = useState<string | null>(null);
  const disabled = (list.data ?? []).filter((w) => !w.enabled && w.disabled_reason !== "turned off by an admin");
  return (
    <section>
      <h1>Webhooks</h1>
      {disabled.map((w) => (
        <p key={w.id} className="card warn" role="alert">
          {w.url} was disabled: {w.disabled_reason}. Fix the receiver, then turn it on again below.
        </p>
      ))}
      {list.isPending ? <Loading /> : null}
      {list.error ? <ErrorNote error={list.error} /> : null}
      {list.data?.length === 0 ? (
        <Empty title="No webhooks yet">
          Add an endpoint below to be told when a run needs a permission answer, fails or finishes, or a worker goes offline: a chat channel, a CI system or
          your own service.
        </Empty>
      ) : null}
      <ul className="stack" aria-label="Endpoints">
        {(list.data ?? []).map((w) => (
          <li key={w.id} className="card">
            <Endpoint hook={w} open={open === w.id} onToggle={() => setOpen(open === w.id ? null : w.id)} />
          </li>
        ))}
      </ul>
      <CreateForm />
    </section>
  );
}

function CreateForm() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<EventType[]>(defaults);
  const [only, setOnly] = useState<string[]>([]);
  const codebases = useQuery(queries(client).codebases());
  const [shown, setShown] = useState<{ url: string; secret: string } | null>(null);
  const create = useMutation({
    mutationFn: () => client.trpc.webhooks.create.mutate({ url: url.trim(), events, ...(only.length > 0 ? { codebase_ids: only } : {}) }),
    onSuccess: (w) => {
      setShown({ url: w.url, secret: w.secret });
      setUrl("");
      void queryClient.invalidateQueries({ queryKey: keys.webhooks });
    },
  });
  return (
    <>
      {shown ? (
        <ShownOnce secret={shown.secret} onDone={() => setShown(null)}>
          <strong>{shown.url}</strong>: copy its signing secret now. It is shown this once; verify each delivery's <code>webhook-signature</code> with it.
        </ShownOnce>
      ) : null}
      <form
        className="card form"
        aria-label="Add a webhook"
        onSubmit={(e) => {
          e.preventDefault();
          if (url.trim() && events.length > 0) create.mutate();
        }}
      >
        <label htmlFor="hook-url">Endpoint URL</label>
        <input id="hook-url" type="url" required placeholder="https://hooks.example.com/codetether" value={url} onChange={(e) => setUrl(e.target.value)} />
        <fieldset className="events">
          <legend>Tell it when</legend>
          {eventTypes.map((t) => (
            <label key={t.type} className="check">
              <input
                type="checkbox"
                checked={events.includes(t.type)}
                onChange={(e) => setEvents(e.target.checked ? [...events, t.type] : events.filter((x) => x !== t.type))}
              />{" "}
              {t.label} <code className="muted">{t.type}</code>
            </label>
          ))}
        </fieldset>
        {codebases.data && codebases.data.length > 0 ? (
          <fieldset className="events">
            <legend>About which codebases</legend>
            <p className="muted small">None ticked: every codebase. Events about no codebase (a worker offline) come either way.</p>
            {codebases.data.map((c) => (
              <label key={c.id} className="check">
                <input
                  type="checkbox"
                  checked={only.includes(c.id)}
                  onChange={(e) => setOnly(e.target.checked ? [...only, c.id] : only.filter((x) => x !== c.id))}
                />{" "}
                {c.name}
              </label>
            ))}
          </fieldset>
        ) : null}
        {create.error ? <ErrorNote error={create.error} /> : null}
        <div className="actions">
          <button type="submit" disabled={create.isPending || events.length === 0}>
            Add webhook
          </button>
        </div>
      </form>
    </>
  );
}

function Endpoint({ hook, open, onToggle }: { hook: Webhook; open: boolean; onToggle: () => void }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: keys.webhooks });
    void queryClient.invalidateQueries({ queryKey: keys.deliveries(hook.id) });
  };
  const toggle = useMutation({
    mutationFn: () => client.trpc.webhooks.update.mutate({ id: hook.id, changes: { enabled: !hook.enabled } }),
    onSuccess: refresh,
  });
  const test = useMutation({ mutationFn: () => client.trpc.webhooks.test.mutate({ id: hook.id }), onSuccess: refresh });
  const remove = useMutation({ mutationFn: () => client.trpc.webhooks.delete.mutate({ id: hook.id }), onSuccess: refresh });
  return (
    <>
      <div className="card-head">
        <strong className="hook-url">{hook.url}</strong>
        <span className={`pill pill-${hook.enabled ? (hook.failing_since ? "retrying" : "online") : "offline"}`}>
          {hook.enabled ? (hook.failing_since ? "failing" : "on") : "off"}
        </span>
      </div>
      <p className="muted">
        {hook.events.join(", ")}
        {hook.codebase_ids ? ` · ${hook.codebase_ids.length === 1 ? "1 codebase" : `${hook.codebase_ids.length} codebases`}` : " · every codebase"}
        {hook.pending > 0 ? ` · ${hook.pending} pending` : ""}
        {hook.failing_since ? ` · failing since ${when(hook.failing_since)}` : ""}
      </p>
      <div className="actions">
        <button type="button" className="secondary" onClick={onToggle} aria-expanded={open}>
          {open ? "Hide deliveries" : "Deliveries"}
        </button>
        <button type="button" className="secondary" onClick={() => test.mutate()} disabled={!hook.enabled || test.isPending}>
          Send a test
        </button>
        <button type="button" className="secondary" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
          {hook.enabled ? "Turn off" : "Turn on"}
        </button>
        <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
          Remove
        </button>
      </div>
      {[toggle.error, test.error, remove.error].map((e, i) => (e ? <ErrorNote key={String(i)} error={e} /> : null))}
      {open ? <Deliveries hookId={hook.id} /> : null}
    </>
  );
}

function Deliveries({ hookId }: { hookId: string }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const list = useQuery({ ...queries(client).deliveries(hookId), refetchInterval: 3000 });
  // The endpoint's pending count above comes from the list of endpoints, fetched on its own clock: read it again
  // whenever the deliveries are, so a delivery shown succeeded is not still counted pending for up to 3 s.
  useEffect(() => {
    if (list.dataUpdatedAt > 0) void queryClient.invalidateQueries({ queryKey: keys.webhooks });
  }, [list.dataUpdatedAt, queryClient]);
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) => client.trpc.webhooks.redeliver.mutate({ id: hookId, deliveryId }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.deliveries(hookId) }),
  });
  if (list.isPending) return <Loading />;
  if (list.error) return <ErrorNote error={list.error} />;
  if (list.data.length === 0) return <p className="muted">Nothing sent yet: send a test, or wait for the first event.</p>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="sr-only">Deliveries, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">Answer</th>
            <th scope="col">Tries</th>
            <th scope="col">Next try</th>
            <th scope="col">Sent</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.data.map((d) => (
            <tr key={d.id}>
              <td>
                <code>{d.event_type}</code>
              </td>
              <td>
                <span className={`pill pill-${d.status === "succeeded" ? "completed" : d.status}`}>{d.status}</span>
              </td>
              <td title={d.last_error ?? undefined}>
                {d.last_status_code ?? (d.last_error ? "no answer" : "—")}
                {d.last_duration_ms !== null ? <span className="muted"> · {d.last_duration_ms} ms</span> : null}
                {d.last_error ? <div className="muted small">{d.last_error}</div> : null}
              </td>
              <td>{d.attempts}</td>
              <td>{when(d.next_attempt_at)}</td>
              <td>{when(d.delivered_at ?? d.created_at)}</td>
              <td>
                <button type="button" className="link" onClick={() => redeliver.mutate(d.id)} disabled={redeliver.isPending}>
                  Redeliver
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {redeliver.error ? <ErrorNote error={redeliver.error} /> : null}
    </div>
  );
}
