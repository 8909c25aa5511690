/**
 * What a webhook can be told, defined once: the event types, what each means, and which stored agent event
 * (or which change elsewhere) causes it. The bodies follow Standard Webhooks: `{ type, timestamp, data }`,
 * where `data` carries ids and the API paths a client needs, never a secret.
 */
import type { NewEvent } from "../../contracts/events.js";

export const webhookEventMeanings = {
  "run.started": "An agent run began (a trigger, a queued follow-up, or a task's attempt).",
  "run.permission_requested": "A run waits for a permission answer: POST it to `links.permission` before `timeout_seconds`.",
  "run.completed": "A run finished its turn.",
  "run.failed": "A run ended with an error (`error` says which).",
  "run.aborted": "A run was aborted (or its task cancelled).",
  "task.completed": "A queued task completed.",
  "task.failed": "A queued task failed for good: its last attempt failed, or it was reported failed.",
  "worker.offline": "A worker has not been heard from for 30 s.",
  "budget.exceeded": "A run cost more than its max_cost_usd and was stopped.",
  "diff.ready": "A run's turn ended in its worktree and its diff is stored: review it at `links.diff`.",
  "webhook.test": "Sent by POST /v1/opencode/webhooks/{webhook_id}/test, to check an endpoint.",
} as const;

export type WebhookEventType = keyof typeof webhookEventMeanings;
export const webhookEventTypes = Object.keys(webhookEventMeanings) as [WebhookEventType, ...WebhookEventType[]];

/** A message on its way into the outbox; `event_id` (the stream position) is added when it is stored. */
export interface WebhookMessage {
  type: WebhookEventType;
  /** The codebase it is about (endpoints filtered by codebase get only theirs); null: none in particular. */
  codebaseId: string | null;
  data: Record<string, unknown>;
}

/** The API paths of what an event is about, relative to the server (PUBLIC_URL makes them absolute). */
function linksOf(codebaseId: string, ids: { session_id?: string | null; task_id?: string | null }, extra: Record<string, string> = {}) {
  const base = `/v1/opencode/codebases/${codebaseId}`;
  return {
    codebase: base,
    events: `${base}/events`,
    ...(ids.session_id ? { session: `${base}/sessions/${ids.session_id}` } : {}),
    ...(ids.task_id ? { task: `/v1/opencode/tasks/${ids.task_id}` } : {}),
    ...extra,
  };
}

const runOutcome = { completed: "run.completed", failed: "run.failed", aborted: "run.aborted", cancelled: "run.aborted" } as const;

/** The webhook messages a stored agent event causes (most cause none). */
export function webhooksOf(codebaseId: string, event: NewEvent): WebhookMessage[] {
  const ids = { codebase_id: codebaseId, session_id: event.data.session_id, ...(event.taskId ? { task_id: event.taskId } : {}) };
  const message = (type: WebhookEventType, data: Record<string, unknown>, links = linksOf(codebaseId, ids)): WebhookMessage => ({
    type,
    codebaseId,
    data: { ...ids, ...data, links },
  });
  switch (event.type) {
    case "status":
      // The runner's own "running" (it names the agent), not a claim's or a retry's note.
      if (event.data.status !== "running" || !event.data.agent) return [];
      return [message("run.started", { run_id: event.data.run_id ?? null, agent: event.data.agent, model: event.data.model ?? null })];
    case "permission": {
      if (event.data.state !== "asked" || !event.data.session_id) return [];
      const { permission_id, permission, patterns, timeout_seconds } = event.data;
      const links = linksOf(codebaseId, ids, {
        permission: `/v1/opencode/codebases/${codebaseId}/sessions/${event.data.session_id}/permissions/${permission_id}`,
      });
      return [message("run.permission_requested", { permission_id, permission, patterns, timeout_seconds: timeout_seconds ?? null }, links)];
    }
    case "error":
      return event.data.name === "BudgetExceeded" ? [message("budget.exceeded", { run_id: event.data.run_id ?? null, message: event.data.message })] : [];
    case "complete": {
      const { status, error, run_id } = event.data;
      const out = [message(runOutcome[status], { run_id: run_id ?? null, status, error: error ?? null })];
      // A task's `complete` is its end: it is only written once the task is done for good.
      if (event.taskId && status === "completed") out.push(message("task.completed", { status }));
      if (event.taskId && status === "failed") out.push(message("task.failed", { status, error: error ?? null }));
      return out;
    }
    case "diff": {
      if (!event.data.final || !event.data.session_id) return [];
      const { worktree_id, branch, base_commit, head_commit, files, additions, deletions } = event.data;
      const links = linksOf(codebaseId, ids, { diff: `/v1/opencode/codebases/${codebaseId}/sessions/${event.data.session_id}/diff` });
      return [message("diff.ready", { worktree_id, branch, base_commit, head_commit, files, additions, deletions }, links)];
    }
    default:
      return [];
  }
}

/** True when storing `event` sends webhook messages (which name its codebase). */
export const causesWebhooks = (event: NewEvent): boolean => webhooksOf("", event).length > 0;
