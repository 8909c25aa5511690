/** Registers a codebase, or edits one: name, path, description, worker, and agent defaults. */
import type { Codebase } from "@codetether/sdk";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useClient } from "../context.tsx";
import { queries } from "../queries.ts";
import { ErrorNote } from "./bits.tsx";

const agents = ["build", "plan", "explore", "general"] as const;
type Agent = (typeof agents)[number];

export function CodebaseForm({ codebase, onDone }: { codebase?: Codebase; onDone: () => void }) {
  const client = useClient();
  const models = useQuery(queries(client).models());
  const config = (codebase?.agent_config ?? {}) as { default_agent?: Agent; default_model?: string; auto_approve?: boolean };
  const [name, setName] = useState(codebase?.name ?? "");
  const [path, setPath] = useState(codebase?.path ?? "");
  const [description, setDescription] = useState(codebase?.description ?? "");
  const [worker, setWorker] = useState(codebase?.worker_id ?? "");
  const [agent, setAgent] = useState<Agent | "">(config.default_agent ?? "");
  const [model, setModel] = useState(config.default_model ?? "");
  const [autoApprove, setAutoApprove] = useState(config.auto_approve ?? false);
  const save = useMutation({
    mutationFn: async () => {
      const agent_config = {
        ...(codebase?.agent_config ?? {}),
        ...(agent ? { default_agent: agent } : { default_agent: undefined }),
        ...(model ? { default_model: model } : { default_model: undefined }),
        auto_approve: autoApprove,
      };
      const body = { name, path, description: description || undefined, worker_id: worker || null, agent_config };
      return codebase ? client.trpc.codebases.update.mutate({ id: codebase.id, patch: body }) : client.createCodebase(body);
    },
    onSuccess: onDone,
  });
  const prefix = codebase ? `edit-${codebase.id}` : "new";
  return (
    <form
      className="card form"
      aria-label={codebase ? `Edit ${codebase.name}` : "Register a codebase"}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <div className="grid">
        <label htmlFor={`${prefix}-name`}>Name</label>
        <input id={`${prefix}-name`} value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,99}" />
        <label htmlFor={`${prefix}-path`}>Path</label>
        <input id={`${prefix}-path`} value={path} onChange={(e) => setPath(e.target.value)} required placeholder="/home/me/projects/app" />
        <label htmlFor={`${prefix}-description`}>Description</label>
        <input id={`${prefix}-description`} value={description} onChange={(e) => setDescription(e.target.value)} />
        <label htmlFor={`${prefix}-worker`}>Worker</label>
        <input id={`${prefix}-worker`} value={worker} onChange={(e) => setWorker(e.target.value)} placeholder="none: runs on this server" />
        <label htmlFor={`${prefix}-agent`}>Default agent</label>
        <select id={`${prefix}-agent`} value={agent} onChange={(e) => setAgent(e.target.value as Agent | "")}>
          <option value="">build (default)</option>
          {agents.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <label htmlFor={`${prefix}-model`}>Default model</label>
        <select id={`${prefix}-model`} value={model} onChange={(e) => setModel(e.target.value)}>
          <option value="">OpenCode's default</option>
          {models.data?.models
            .filter((m) => m.available)
            .map((m) => (
              <option key={m.id} value={m.id}>
                {m.name} ({m.id})
              </option>
            ))}
        </select>
      </div>
      <label className="inline">
        <input type="checkbox" checked={autoApprove} onChange={(e) => setAutoApprove(e.target.checked)} /> Approve the agent's permission requests automatically
      </label>
      {save.error ? <ErrorNote error={save.error} /> : null}
      <div className="actions">
        <button type="submit" disabled={save.isPending}>
          {codebase ? "Save" : "Register"}
        </button>
      </div>
    </form>
  );
}
