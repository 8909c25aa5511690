/** The task queue: filters, priorities, creating, cancelling and retrying tasks, and one task's attempts and live events. */
import type { Task } from "@codetether/sdk";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { useCan } from "../can.ts";
import { dollars, Empty, ErrorNote, Loading, SearchBox, ShowMore, tokens, when } from "../components/bits.tsx";
import { RunLog, UsageLine, useRunModel } from "../components/RunLog.tsx";
import { useClient } from "../context.tsx";
import { useEventStream } from "../live.ts";
import { usePaged, useSettled } from "../paged.ts";
import { keys, pages, queries } from "../queries.ts";

const statuses = ["pending", "running", "completed", "failed", "cancelled"] as const;
type TaskStatus = (typeof statuses)[number];

function Priority({ value }: { value: number }) {
  const level = value > 0 ? "high" : value < 0 ? "low" : "normal";
  return (
    <span className={`pill priority-${level}`} role="img" aria-label={`Priority ${value}`}>
      {value > 0 ? `+${value}` : value}
    </span>
  );
}

export function TasksPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(useSearch());
  const filter = {
    status: (params.get("status") as TaskStatus | null) ?? undefined,
    codebase_id: params.get("codebase") ?? undefined,
    worker_id: params.get("worker") ?? undefined,
  };
  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    navigate(`/tasks${next.size ? `?${next}` : ""}`);
  };
  const [search, setSearch] = useState("");
  const q = useSettled(search.trim());
  const tasks = usePaged(pages(client).tasks({ ...filter, q: q || undefined }));
  const codebases = useQuery(queries(client).codebases());
  const workers = useQuery(queries(client).workers());
  const cancel = useMutation({
    mutationFn: (id: string) => client.trpc.tasks.cancel.mutate({ id }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.allTasks }),
  });
  const [creating, setCreating] = useState(false);
  const names = new Map(codebases.data?.map((c) => [c.id, c.name]));
  return (
    <section>
      <div className="page-head">
        <h1>Tasks</h1>
        <button type="button" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          {creating ? "Close" : "Create a task"}
        </button>
      </div>
      {creating ? <TaskForm onDone={() => setCreating(false)} /> : null}
      <fieldset className="filters" aria-label="Filters">
        <label>
          Status
          <select value={filter.status ?? ""} onChange={(e) => setFilter("status", e.target.value)}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Codebase
          <select value={filter.codebase_id ?? ""} onChange={(e) => setFilter("codebase", e.target.value)}>
            <option value="">any</option>
            {codebases.data?.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Worker
          <select value={filter.worker_id ?? ""} onChange={(e) => setFilter("worker", e.target.value)}>
            <option value="">any</option>
            <option value="local">this server</option>
            {workers.data?.map((w) => (
              <option key={w.name} value={w.name}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <SearchBox value={search} onChange={setSearch} label="Search titles and prompts" />
      </fieldset>
      {tasks.isPending ? <Loading /> : null}
      {tasks.error ? <ErrorNote error={tasks.error} /> : null}
      {tasks.items?.length === 0 ? (
        <Empty title={filter.status || filter.codebase_id || filter.worker_id || q ? "No task matches these filters" : "No tasks yet: create one"}>
          Tasks wait in a durable queue, most urgent first, until this server or a worker runs them.
        </Empty>
      ) : null}
      {tasks.items && tasks.items.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Tasks in the order they run</caption>
            <thead>
              <tr>
                <th scope="col">Task</th>
                <th scope="col">Priority</th>
                <th scope="col">Status</th>
                <th scope="col">Codebase</th>
                <th scope="col">Runner</th>
                <th scope="col">Attempts</th>
                <th scope="col">Cost</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tasks.items.map((t) => (
                <tr key={t.id}>
                  <td>
                    <Link href={`/tasks/${t.id}`}>{t.title}</Link>
                  </td>
                  <td>
                    <Priority value={t.priority} />
                  </td>
                  <td>
                    <span className={`pill pill-${t.status}`}>
                      {t.status}
                      {t.cancel_requested && t.status === "running" ? " (cancelling)" : ""}
                    </span>
                  </td>
                  <td>{names.get(t.codebase_id) ?? t.codebase_id}</td>
                  <td>{t.worker_id ?? "—"}</td>
                  <td>
                    {t.attempts}/{t.max_attempts}
                  </td>
                  <td>{t.usage && t.usage.steps > 0 ? dollars(t.usage.cost) : "—"}</td>
                  <td>{when(t.created_at)}</td>
                  <td>
                    {t.status === "pending" || t.status === "running" ? (
                      <button type="button" className="secondary danger" onClick={() => cancel.mutate(t.id)} aria-label={`Cancel ${t.title}`}>
                        Cancel
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <ShowMore list={tasks} />
      {cancel.error ? <ErrorNote error={cancel.error} /> : null}
    </section>
  );
}

function TaskForm({ onDone }: { onDone: () => void }) {
  const client = useClient();
  const can = useCan();
  const queryClient = useQueryClient();
  const codebases = useQuery(queries(client).codebases());
  const models = useQuery(queries(client).models());
  const [codebase, setCodebase] = useState("");
  const [title, setTitle] = useState("");
  const [prompt, setPrompt] = useState("");
  const [agent, setAgent] = useState("build");
  const [model, setModel] = useState("");
  const [priority, setPriority] = useState(0);
  const [attempts, setAttempts] = useState(3);
  const target = codebase || codebases.data?.[0]?.id || "";
  const create = useMutation({
    mutationFn: () =>
      client.createTask(target, {
        title,
        prompt,
        agent_type: agent as "build",
        priority,
        max_attempts: attempts,
        ...(model ? { model } : {}),
      }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: keys.allTasks });
      onDone();
    },
  });
  if (codebases.data?.length === 0)
    return (
      <Empty title="Register a codebase first">
        <Link href="/codebases">Go to the codebases</Link>
      </Empty>
    );
  return (
    <form
      className="card form"
      aria-label="Create a task"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <div className="grid">
        <label htmlFor="task-codebase">Codebase</label>
        <select id="task-codebase" value={target} onChange={(e) => setCodebase(e.target.value)}>
          {codebases.data?.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
        <label htmlFor="task-title">Title</label>
        <input id="task-title" value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={200} />
        <label htmlFor="task-agent">Agent</label>
        <select id="task-agent" value={agent} onChange={(e) => setAgent(e.target.value)}>
          {["build", "plan", "explore", "general"].map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <label htmlFor="task-model">Model</label>
        <select id="task-model" value={model} onChange={(e) => setModel(e.target.value)}>
          <option value="">the codebase's default</option>
          {models.data?.models
            .filter((m) => m.available)
            .map((m) => (
              <option key={m.id} value={m.id}>
                {m.name} ({m.available_on.join(", ")})
              </option>
            ))}
        </select>
        <label htmlFor="task-priority">Priority</label>
        <input id="task-priority" type="number" min={-1000} max={1000} value={priority} onChange={(e) => setPriority(Number(e.target.value))} />
        <label htmlFor="task-attempts">Max attempts</label>
        <input id="task-attempts" type="number" min={1} max={20} value={attempts} onChange={(e) => setAttempts(Number(e.target.value))} />
      </div>
      <label htmlFor="task-prompt">Prompt</label>
      <textarea id="task-prompt" rows={4} value={prompt} onChange={(e) => setPrompt(e.target.value)} required />
      {create.error ? <ErrorNote error={create.error} /> : null}
      <div className="actions">
        <button type="submit" disabled={create.isPending || !can.write} title={can.whyNot || undefined}>
          Create task
        </button>
      </div>
    </form>
  );
}

export function TaskPage() {
  const { id } = useParams<{ id: string }>();
  const client = useClient();
  const queryClient = useQueryClient();
  const task = useQuery(queries(client).task(id));
  const t = task.data;
  const cancel = useMutation({
    mutationFn: () => client.trpc.tasks.cancel.mutate({ id }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.task(id) }),
  });
  // Stable, so the events view asks for a refresh once per end, not at every render after it.
  const refresh = useCallback(() => void queryClient.invalidateQueries({ queryKey: keys.task(id) }), [queryClient, id]);
  const retry = useMutation({
    mutationFn: () => client.trpc.tasks.retry.mutate({ id }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.task(id) }),
  });
  return (
    <section>
      <p>
        <Link href="/tasks">← All tasks</Link>
      </p>
      {task.isPending ? <Loading /> : null}
      {task.error ? <ErrorNote error={task.error} /> : null}
      {t ? (
        <>
          <div className="page-head">
            <h1>{t.title}</h1>
            <span className={`pill pill-${t.status}`}>{t.status}</span>
            <Priority value={t.priority} />
            {t.status === "pending" || t.status === "running" ? (
              <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
                Cancel task
              </button>
            ) : null}
            {t.status === "failed" || t.status === "cancelled" ? (
              <button type="button" onClick={() => retry.mutate()} disabled={retry.isPending}>
                Retry
              </button>
            ) : null}
          </div>
          {retry.error ? <ErrorNote error={retry.error} /> : null}
          <dl className="facts">
            <dt>Agent</dt>
            <dd>{t.agent_type}</dd>
            <dt>Model</dt>
            <dd>{t.model ?? "default"}</dd>
            <dt>Runner</dt>
            <dd>{t.worker_id ?? "not claimed yet"}</dd>
            <dt>Attempts</dt>
            <dd>
              {t.attempts} of {t.max_attempts}
            </dd>
            <dt>Spent</dt>
            <dd>{t.usage && t.usage.steps > 0 ? `${dollars(t.usage.cost)} · ${tokens(t.usage)} · ${t.usage.steps} steps` : "nothing yet"}</dd>
            <dt>Created</dt>
            <dd>
              {when(t.created_at)}
              {t.created_by ? ` by ${t.created_by}` : null}
            </dd>
            <dt>Finished</dt>
            <dd>{when(t.completed_at)}</dd>
          </dl>
          <h2>Prompt</h2>
          <pre className="prompt">{t.prompt}</pre>
          {t.attempt_errors.length > 0 ? (
            <>
              <h2>Lost attempts</h2>
              <ul>
                {t.attempt_errors.map((a) => (
                  <li key={a.attempt}>
                    Attempt {a.attempt} on {a.worker_id ?? "?"}: {a.reason} ({when(a.at)})
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          {t.error ? (
            <p className="error-text" role="alert">
              {t.error}
            </p>
          ) : null}
          {t.result ? (
            <>
              <h2>Result</h2>
              <pre className="prompt">{t.result}</pre>
            </>
          ) : null}
          <h2>Events</h2>
          <TaskEvents task={t} onEnd={refresh} />
        </>
      ) : null}
    </section>
  );
}

function TaskEvents({ task, onEnd }: { task: Task; onEnd: () => void }) {
  // Every attempt's events, from the task's first (its history across retries and failovers).
  const stream = useEventStream(undefined, { taskId: task.id, from: 0 });
  const model = useRunModel(stream.events, stream.version);
  useEffect(() => {
    if (model.done) onEnd();
  }, [model.done, onEnd]);
  if (stream.events.length === 0) return <p className="muted">No events yet: the task waits for a runner.</p>;
  return (
    <>
      {stream.state === "reconnecting" ? (
        <p className="warn" role="status">
          Reconnecting…
        </p>
      ) : null}
      <RunLog model={model} />
      <UsageLine model={model} />
    </>
  );
}
