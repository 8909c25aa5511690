/**
 * Run an agent: pick the codebase, agent and model, write a prompt, and watch the
 * run live; answer its permission requests, abort it, or continue the session.
 * The URL names the session and the event it started after, so a reload resumes
 * the same view.
 */
import { runFilter, type TriggerRequest } from "@codetether/sdk";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { useCan } from "../can.ts";
import { Empty, ErrorNote } from "../components/bits.tsx";
import { Changes } from "../components/Changes.tsx";
import { RunLog, UsageLine, useRunModel } from "../components/RunLog.tsx";
import { useClient } from "../context.tsx";
import { useEventStream } from "../live.ts";
import { keys, queries } from "../queries.ts";

const agents = ["build", "plan", "explore", "general"] as const;

export function RunPage() {
  const { codebaseId, sessionId } = useParams<{ codebaseId?: string; sessionId?: string }>();
  const search = new URLSearchParams(useSearch());
  const from = search.get("from");
  const runId = search.get("run");
  return (
    <section>
      <h1>Run an agent</h1>
      {sessionId === "starting" && codebaseId && runId ? (
        <StartingRun codebaseId={codebaseId} runId={runId} from={Number(from ?? 0)} />
      ) : sessionId && codebaseId ? (
        <LiveRun key={`${sessionId}:${from}`} codebaseId={codebaseId} sessionId={sessionId} from={from === null ? 0 : Number(from)} />
      ) : (
        <PromptForm codebaseId={codebaseId} />
      )}
    </section>
  );
}

/**
 * The prompt: a new run, or (with `sessionId`) the session's next turn. While the session runs, a follow-up is
 * queued behind the running turn by default (`queue: true`) and waits in the list below the box.
 */
function PromptForm({ codebaseId, sessionId, running = false }: { codebaseId?: string; sessionId?: string; running?: boolean }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const [queue, setQueue] = useState(true);
  const can = useCan();
  const [, navigate] = useLocation();
  const codebases = useQuery(queries(client).codebases());
  const models = useQuery(queries(client).models());
  const local = codebases.data?.filter((c) => !c.worker_id) ?? [];
  const [chosen, setChosen] = useState(codebaseId ?? "");
  const [agent, setAgent] = useState<(typeof agents)[number]>("build");
  const [model, setModel] = useState("");
  const [prompt, setPrompt] = useState("");
  const target = codebaseId ?? (chosen || local[0]?.id || "");
  const run = useMutation({
    mutationFn: () => {
      const request: TriggerRequest = {
        prompt,
        ...(sessionId ? {} : { agent }),
        ...(model ? { model } : {}),
        ...(sessionId ? { session_id: sessionId, queue } : { new_session: true }),
      };
      return client.trpc.sessions.trigger.mutate({ codebaseId: target, request });
    },
    onSuccess: (r) => {
      if (r.status === "queued") {
        // It waits behind the running turn; this view goes on with it when it starts.
        setPrompt("");
        void queryClient.invalidateQueries({ queryKey: keys.queue(r.codebase_id, r.session_id) });
        return;
      }
      navigate(
        r.session_id
          ? `/run/${r.codebase_id}/${r.session_id}?from=${r.last_event_id}`
          : `/run/${r.codebase_id}/starting?run=${r.run_id}&from=${r.last_event_id}`,
      );
    },
  });
  if (codebases.data && local.length === 0 && !codebaseId) {
    return (
      <Empty title="No codebase to run on yet">
        <Link href="/codebases">Register a codebase</Link> on this server first (codebases on workers run through <Link href="/tasks">tasks</Link>).
      </Empty>
    );
  }
  const available = models.data?.models.filter((m) => m.available) ?? [];
  return (
    <form
      className="card form"
      aria-label={sessionId ? "Continue the session" : "Run an agent"}
      onSubmit={(e) => {
        e.preventDefault();
        if (prompt.trim() && target) run.mutate();
      }}
    >
      {!sessionId ? (
        <div className="grid">
          <label htmlFor="run-codebase">Codebase</label>
          <select id="run-codebase" value={target} onChange={(e) => setChosen(e.target.value)} disabled={Boolean(codebaseId)}>
            {local.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
          <label htmlFor="run-agent">Agent</label>
          <select id="run-agent" value={agent} onChange={(e) => setAgent(e.target.value as (typeof agents)[number])}>
            {agents.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
          <label htmlFor="run-model">Model</label>
          <select id="run-model" value={model} onChange={(e) => setModel(e.target.value)}>
            <option value="">{models.data?.default ? `Default (${models.data.default})` : "OpenCode's default"}</option>
            {available.map((m) => (
              <option key={m.id} value={m.id}>
                {m.name} ({m.id})
              </option>
            ))}
          </select>
        </div>
      ) : null}
      {models.data?.message && !sessionId ? <p className="muted">{models.data.message}</p> : null}
      <label htmlFor={sessionId ? "follow-up" : "run-prompt"}>{sessionId ? "Follow-up prompt" : "Prompt"}</label>
      <textarea
        id={sessionId ? "follow-up" : "run-prompt"}
        rows={sessionId ? 3 : 5}
        value={prompt}
        onChange={(e) => setPrompt(e.target.value)}
        placeholder="Add error handling to the API routes"
        required
      />
      {run.error ? <ErrorNote error={run.error} /> : null}
      <div className="actions">
        {sessionId && running ? (
          <label className="check">
            <input type="checkbox" checked={queue} onChange={(e) => setQueue(e.target.checked)} /> Queue it as the next turn
          </label>
        ) : null}
        <button type="submit" disabled={run.isPending || !target || !can.write} title={can.whyNot || undefined}>
          {!sessionId ? "Run" : running && queue ? "Queue follow-up" : "Continue"}
        </button>
      </div>
    </form>
  );
}

/**
 * A run accepted while OpenCode was still booting: its session has no id yet. The
 * run's first event carries this trigger's run_id and names the session; then the
 * page moves to that session's live view (same starting event, so nothing is lost).
 */
function StartingRun({ codebaseId, runId, from }: { codebaseId: string; runId: string; from: number }) {
  const [, navigate] = useLocation();
  const stream = useEventStream(codebaseId, { from });
  const run = runFilter(runId);
  const mine = stream.events.filter((e) => run.keeps(e));
  const sessionId = run.sessionId;
  useEffect(() => {
    if (sessionId) navigate(`/run/${codebaseId}/${sessionId}?from=${from}`, { replace: true });
  }, [sessionId, codebaseId, from, navigate]);
  const failed = mine.filter((e) => e.type !== "status");
  const model = useRunModel(failed, stream.version);
  if (failed.length > 0) return <RunLog model={model} />;
  return (
    <p className="muted" role="status">
      OpenCode is starting; the run begins as soon as it is ready…
    </p>
  );
}

function LiveRun({ codebaseId, sessionId, from }: { codebaseId: string; sessionId: string; from: number }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const stream = useEventStream(codebaseId, { sessionId, from });
  const model = useRunModel(stream.events, stream.version);
  const abort = useMutation({ mutationFn: () => client.trpc.sessions.abort.mutate({ codebaseId, sessionId }) });
  const answer = useMutation({
    mutationFn: (a: { permissionId: string; reply: "once" | "always" | "reject" }) =>
      client.trpc.sessions.answerPermission.mutate({ codebaseId, sessionId, ...a }),
  });
  useEffect(() => {
    if (model.done) void queryClient.invalidateQueries({ queryKey: keys.sessionsOf(codebaseId) });
  }, [model.done, queryClient, codebaseId]);
  // Each diff event says the worktree changed: the Changes tab reads the new diff.
  useEffect(() => {
    if (model.diffs > 0) void queryClient.invalidateQueries({ queryKey: keys.diff(codebaseId, sessionId) });
  }, [model.diffs, queryClient, codebaseId, sessionId]);
  const [tab, setTab] = useState<"output" | "changes">("output");
  const running = !model.done;
  return (
    <>
      <div className="run-head">
        <p>
          Session{" "}
          <Link href={`/codebases/${codebaseId}/sessions/${sessionId}`}>
            <code>{sessionId}</code>
          </Link>{" "}
          <span className={`pill pill-${model.status}`} role="status" aria-label={`Run status: ${model.status}`}>
            {model.status}
          </span>
        </p>
        {stream.state === "reconnecting" ? (
          <p className="warn" role="status">
            Reconnecting… the view resumes where it stopped.
          </p>
        ) : null}
        {running ? (
          <button type="button" className="danger" onClick={() => abort.mutate()} disabled={abort.isPending}>
            Abort
          </button>
        ) : null}
      </div>
      {abort.error ? <ErrorNote error={abort.error} /> : null}
      {answer.error ? <ErrorNote error={answer.error} /> : null}
      <div className="tabs" role="tablist" aria-label="Run views">
        <button type="button" role="tab" id="tab-output" aria-selected={tab === "output"} aria-controls="panel-output" onClick={() => setTab("output")}>
          Output
        </button>
        <button type="button" role="tab" id="tab-changes" aria-selected={tab === "changes"} aria-controls="panel-changes" onClick={() => setTab("changes")}>
          Changes
          {model.diff ? (
            <span className="tab-count">
              {" "}
              {model.diff.files} · <span className="plus">+{model.diff.additions}</span> <span className="minus">−{model.diff.deletions}</span>
            </span>
          ) : null}
        </button>
      </div>
      <div role="tabpanel" id="panel-output" aria-labelledby="tab-output" hidden={tab !== "output"}>
        <RunLog model={model} onPermission={(permissionId, reply) => answer.mutate({ permissionId, reply })} />
        <UsageLine model={model} />
      </div>
      <div role="tabpanel" id="panel-changes" aria-labelledby="tab-changes" hidden={tab !== "changes"}>
        {tab === "changes" ? <Changes codebaseId={codebaseId} sessionId={sessionId} running={running} /> : null}
      </div>
      <QueuedPrompts codebaseId={codebaseId} sessionId={sessionId} />
      <PromptForm codebaseId={codebaseId} sessionId={sessionId} running={running} />
    </>
  );
}

/** Follow-ups waiting behind the running turn, in order: each can be edited or removed until it starts. */
function QueuedPrompts({ codebaseId, sessionId }: { codebaseId: string; sessionId: string }) {
  const client = useClient();
  const can = useCan();
  const queryClient = useQueryClient();
  const queue = useQuery(queries(client).queue(codebaseId, sessionId));
  const [editing, setEditing] = useState<{ id: string; prompt: string } | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.queue(codebaseId, sessionId) });
  const save = useMutation({
    mutationFn: (e: { id: string; prompt: string }) =>
      client.trpc.sessions.editQueued.mutate({ codebaseId, sessionId, promptId: e.id, changes: { prompt: e.prompt } }),
    onSuccess: () => {
      setEditing(null);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => client.trpc.sessions.removeQueued.mutate({ codebaseId, sessionId, promptId: id }),
    onSuccess: () => void refresh(),
  });
  const waiting = (queue.data ?? []).filter((q) => q.status === "queued" || q.status === "starting");
  if (waiting.length === 0) return null;
  return (
    <section className="card queue" aria-label="Queued follow-ups">
      <h2>Queued follow-ups</h2>
      <ol>
        {waiting.map((q) => (
          <li key={q.id}>
            {editing?.id === q.id ? (
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  if (editing.prompt.trim()) save.mutate(editing);
                }}
              >
                <label className="sr-only" htmlFor={`edit-${q.id}`}>
                  Edit the queued prompt
                </label>
                <textarea id={`edit-${q.id}`} rows={2} value={editing.prompt} onChange={(e) => setEditing({ id: q.id, prompt: e.target.value })} />
                <div className="actions">
                  <button type="submit" disabled={save.isPending}>
                    Save
                  </button>
                  <button type="button" className="secondary" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </div>
              </form>
            ) : (
              <>
                <p className="queued-prompt">{q.prompt}</p>
                {q.status === "starting" ? (
                  <p className="muted" role="status">
                    Starting…
                  </p>
                ) : (
                  <div className="actions">
                    <button type="button" className="secondary" disabled={!can.write} onClick={() => setEditing({ id: q.id, prompt: q.prompt })}>
                      Edit
                    </button>
                    <button type="button" className="secondary" disabled={!can.write || remove.isPending} onClick={() => remove.mutate(q.id)}>
                      Remove
                    </button>
                  </div>
                )}
              </>
            )}
          </li>
        ))}
      </ol>
      {save.error ? <ErrorNote error={save.error} /> : null}
      {remove.error ? <ErrorNote error={remove.error} /> : null}
    </section>
  );
}
