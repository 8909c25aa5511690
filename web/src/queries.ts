/**
 * Every query of the dashboard, defined once: its key and how it fetches (through
 * the SDK). Pages take them from here, so a key cannot drift between the page that
 * reads a list and the one that refreshes it; `refreshFor` says what an activity
 * message moves: what belongs to the codebases whose streams moved, nothing else.
 */
import type { CodeTetherClient, Task } from "@codetether/sdk";
import { type QueryClient, queryOptions } from "@tanstack/react-query";
import type { PagedList } from "./paged.ts";

/** What the tasks list is filtered by (the list's own query, without its cursor). */
type TaskFilter = { status?: Task["status"]; codebase_id?: string; worker_id?: string; q?: string };
/** What the Sessions page (every codebase's sessions) is filtered by. */
export type SessionFilter = { codebase_id?: string; status?: "idle" | "running" | "completed" | "failed" | "aborted"; q?: string };

/** The keys, by what they hold; the codebase id comes second wherever a query belongs to one. */
export const keys = {
  codebases: ["codebases"] as const,
  codebasePages: ["codebases", "pages"] as const,
  codebase: (id: string) => ["codebase", id] as const,
  sessions: (codebaseId: string, q = "") => ["sessions", codebaseId, q] as const,
  /** Every sessions list of a codebase, whatever its search (a prefix of `sessions`). */
  sessionsOf: (codebaseId: string) => ["sessions", codebaseId] as const,
  session: (codebaseId: string, sessionId: string) => ["session", codebaseId, sessionId] as const,
  /** The Sessions page's list: every codebase's sessions, filtered. */
  allSessions: (filter: SessionFilter = {}) => ["allSessions", filter] as const,
  queue: (codebaseId: string, sessionId: string) => ["queue", codebaseId, sessionId] as const,
  diff: (codebaseId: string, sessionId: string) => ["diff", codebaseId, sessionId] as const,
  tasks: (filter: TaskFilter = {}) => ["tasks", filter] as const,
  /** Every tasks list, whatever its filter (a prefix of `tasks`). */
  allTasks: ["tasks"] as const,
  task: (id: string) => ["task", id] as const,
  workers: ["workers"] as const,
  models: ["models"] as const,
  status: ["status"] as const,
  usage: ["usage"] as const,
  me: ["me"] as const,
  users: ["users"] as const,
  apiKeys: ["apiKeys"] as const,
  audit: ["audit"] as const,
  webhooks: ["webhooks"] as const,
  deliveries: (webhookId: string) => ["deliveries", webhookId] as const,
};

/** The queries that are not paged lists (those are `usePaged` over the fetchers in `pages`). */
export function queries(client: CodeTetherClient) {
  return {
    codebases: () => queryOptions({ queryKey: keys.codebases, queryFn: () => client.listCodebases() }),
    codebase: (id: string) => queryOptions({ queryKey: keys.codebase(id), queryFn: () => client.trpc.codebases.get.query({ id }) }),
    session: (codebaseId: string, sessionId: string) =>
      queryOptions({ queryKey: keys.session(codebaseId, sessionId), queryFn: () => client.trpc.sessions.get.query({ codebaseId, sessionId }) }),
    diff: (codebaseId: string, sessionId: string) =>
      queryOptions({ queryKey: keys.diff(codebaseId, sessionId), queryFn: () => client.diff(codebaseId, sessionId), retry: false }),
    task: (id: string) => queryOptions({ queryKey: keys.task(id), queryFn: () => client.trpc.tasks.get.query({ id }) }),
    // Workers come and go by heartbeat, which no activity message announces: fetched afresh on every visit, then every 10 s.
    workers: () => queryOptions({ queryKey: keys.workers, queryFn: () => client.trpc.workers.list.query(), staleTime: 0 }),
    models: () => queryOptions({ queryKey: keys.models, queryFn: () => client.listModels() }),
    status: () => queryOptions({ queryKey: keys.status, queryFn: () => client.trpc.status.get.query() }),
    usage: () => queryOptions({ queryKey: keys.usage, queryFn: () => client.trpc.usage.report.query({ group_by: "model,worker" }) }),
    // Who the key is changes only with the key: no polling.
    me: () => queryOptions({ queryKey: keys.me, queryFn: () => client.trpc.access.me.query(), refetchInterval: false, staleTime: Number.POSITIVE_INFINITY }),
    users: () => queryOptions({ queryKey: keys.users, queryFn: () => client.trpc.access.users.query() }),
    apiKeys: () => queryOptions({ queryKey: keys.apiKeys, queryFn: () => client.trpc.access.keys.query() }),
    audit: () => queryOptions({ queryKey: keys.audit, queryFn: () => client.trpc.access.audit.query({ limit: 100 }) }),
    queue: (codebaseId: string, sessionId: string) =>
      queryOptions({ queryKey: keys.queue(codebaseId, sessionId), queryFn: () => client.trpc.sessions.queue.query({ codebaseId, sessionId }) }),
    webhooks: () => queryOptions({ queryKey: keys.webhooks, queryFn: () => client.trpc.webhooks.list.query() }),
    deliveries: (id: string) =>
      queryOptions({ queryKey: keys.deliveries(id), queryFn: async () => (await client.trpc.webhooks.deliveries.query({ id, query: { limit: 50 } })).items }),
  };
}

/** The paged lists, each its key paired with how it fetches one page from a cursor (for `usePaged`). */
export function pages(client: CodeTetherClient) {
  return {
    codebases: () => ({ queryKey: keys.codebasePages, fetchPage: (cursor: string | undefined) => client.trpc.codebases.page.query({ cursor }) }),
    sessions: (codebaseId: string, q: string) => ({
      queryKey: keys.sessions(codebaseId, q),
      fetchPage: (cursor: string | undefined) => client.trpc.sessions.page.query({ codebaseId, q: q || undefined, cursor }),
    }),
    allSessions: (filter: SessionFilter) => ({
      queryKey: keys.allSessions(filter),
      fetchPage: (cursor: string | undefined) => client.trpc.sessions.all.query({ ...filter, cursor }),
    }),
    tasks: (filter: TaskFilter) => ({
      queryKey: keys.tasks(filter),
      fetchPage: (cursor: string | undefined) => client.trpc.tasks.page.query({ ...filter, cursor }),
    }),
  } satisfies Record<string, (...args: never[]) => PagedList<unknown>>;
}

/**
 * What an activity message moves: the sessions, session views, queues, diffs and the
 * codebase of each codebase whose stream moved, the codebases list (its runs in
 * flight), the Sessions page, and the task lists and task views that show its tasks. Workers (fetched afresh on
 * each visit), models, status and usage keep their own 10 s refresh.
 */
export function refreshFor(queryClient: QueryClient, codebaseIds: readonly string[]): void {
  const moved = new Set(codebaseIds);
  void queryClient.invalidateQueries({ queryKey: keys.codebases });
  void queryClient.invalidateQueries({
    predicate: (query) => {
      const [kind, second] = query.queryKey as [string, unknown];
      if (kind === "sessions" || kind === "session" || kind === "diff" || kind === "codebase" || kind === "queue") return moved.has(second as string);
      if (kind === "allSessions") {
        const filter = second as SessionFilter | undefined;
        return !filter?.codebase_id || moved.has(filter.codebase_id);
      }
      if (kind === "tasks") {
        const filter = second as TaskFilter | undefined;
        return !filter?.codebase_id || moved.has(filter.codebase_id);
      }
      if (kind === "task") return moved.has((query.state.data as { codebase_id?: string } | undefined)?.codebase_id ?? "");
      return false;
    },
  });
}
