/**
 * The CodeTether client: the typed tRPC client over the server's router, plus the few
 * calls apps want most. Queries and mutations go batched over HTTP; subscriptions go
 * over Server-Sent Events and resume after a reconnect from the last event they saw.
 */
import { createTRPCClient, httpBatchStreamLink, httpSubscriptionLink, splitLink, type TRPCClient } from "@trpc/client";
import type { EventSourceLike } from "@trpc/server/unstable-core-do-not-import";
import { EventSource as FetchEventSource, type FetchLike } from "eventsource";
import superjson from "superjson";
import { RefusedKeyError } from "./errors.js";
import { subscriptionIterator } from "./iterate.js";
import { type AgentRun, agentRun, eventsOfRun, type RunResult, type WaitOptions } from "./runs.js";
import type {
  AgentEvent,
  ApplyMode,
  AppRouter,
  ChangeResult,
  Codebase,
  CreateCodebaseInput,
  CreateTaskInput,
  ModelList,
  RunDiff,
  Task,
  TriggerRequest,
} from "./types.js";

/** How to reach and authenticate with a CodeTether server. */
export interface CodeTetherClientOptions {
  /** The server's base URL, e.g. `http://localhost:8000`; tRPC answers under `/trpc`. */
  url: string;
  /** The server's `CODETETHER_API_KEY`, sent as `Authorization: Bearer <key>`. Omit when the server has none. */
  apiKey?: string;
  /** More headers for every request (not sent by a native browser EventSource, see `EventSource`). */
  headers?: Record<string, string>;
  /** The fetch to use; default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
  /**
   * The EventSource class for subscriptions. By default the SDK uses the fetch-based
   * `eventsource` package, which works in Node and browsers and sends the headers above.
   * Pass another class (e.g. the browser's native `EventSource`) and the SDK cannot set
   * headers on its requests, so it sends `apiKey` as tRPC connection params in the URL
   * instead, which the server accepts for GET requests under /trpc only.
   */
  EventSource?: EventSourceLike.AnyConstructor;
}

/** Where to start reading a codebase's events. */
export interface EventsOptions {
  /** Only this session's events (null or absent: every session's). */
  sessionId?: string | null;
  /** Start after this event id (exclusive); `0` replays the whole stream; omit to start live (new events only). */
  lastEventId?: number | string;
  /** Stops reading: the loop throws the signal's reason. */
  signal?: AbortSignal;
}

/** A typed CodeTether client; see `createCodeTetherClient`. */
export interface CodeTetherClient {
  /** The raw tRPC client over the whole router: `client.trpc.sessions.list.query({ codebaseId })`. */
  readonly trpc: TRPCClient<AppRouter>;
  /** All registered codebases. */
  listCodebases(): Promise<Codebase[]>;
  /** Registers a directory on the server's machine as a codebase. */
  createCodebase(input: CreateCodebaseInput): Promise<Codebase>;
  /** What can run now (server and workers), grouped by provider, with the default; the page's ten listed models marked unavailable when nothing runs them. */
  listModels(): Promise<ModelList>;
  /** Queues a task on a codebase; a worker (or the server's own runner) picks it up. */
  createTask(codebaseId: string, task: CreateTaskInput): Promise<Task>;
  /**
   * A codebase's events as an async iterator: the stored ones after `lastEventId` (none when it is omitted), then live
   * ones. It never ends on its own; `break`, or abort `signal`. After a dropped connection it
   * reconnects and resumes after the last event it yielded, so nothing is lost or repeated.
   */
  events(codebaseId: string, options?: EventsOptions): AsyncIterableIterator<AgentEvent>;
  /** Starts an agent on a codebase; iterate the returned run for its events until `complete`. */
  trigger(codebaseId: string, request: TriggerRequest): Promise<AgentRun>;
  /** Starts an agent and waits for it to finish; `onEvent` sees each event as it arrives. */
  triggerAndWait(codebaseId: string, request: TriggerRequest, options?: WaitOptions): Promise<RunResult>;
  /** What a session's run changed in its worktree, against the commit it started from. */
  diff(codebaseId: string, sessionId: string): Promise<RunDiff>;
  /**
   * Brings a session's changes into the codebase: a merge commit (the default), a fast-forward, or
   * uncommitted edits. A conflict throws (`CONFLICT`, the files in `err.data.details.conflicts`) and changes nothing.
   */
  applyChanges(codebaseId: string, sessionId: string, options?: { mode?: ApplyMode }): Promise<ChangeResult>;
  /** Throws a session's changes away: its worktree and branch go; its diff stays readable. */
  discardChanges(codebaseId: string, sessionId: string): Promise<ChangeResult>;
}

/**
 * A missing or wrong key is answered at the server's HTTP edge, before tRPC: 401 with
 * `{detail}`. Thrown here, that message reaches the caller (as the TRPCClientError's
 * message, its cause a RefusedKeyError) instead of a stream parser's complaint about a body that is not tRPC's.
 */
async function rejectEdgeErrors(res: Response): Promise<Response> {
  if (res.status !== 401) return res;
  const body: unknown = await res
    .clone()
    .json()
    .catch(() => null);
  const detail = body && typeof body === "object" && "detail" in body ? body.detail : undefined;
  if (typeof detail === "string") throw new RefusedKeyError(detail);
  return res;
}

/** Creates a client for the CodeTether server at `options.url`. */
export function createCodeTetherClient(options: CodeTetherClientOptions): CodeTetherClient {
  const endpoint = `${options.url.replace(/\/+$/, "")}/trpc`;
  const headers = (): Record<string, string> => ({
    ...options.headers,
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  });
  // Called unbound: browsers reject `fetch` invoked as a method of another object.
  const fetchImpl: typeof globalThis.fetch = (input, init) => (options.fetch ?? globalThis.fetch)(input, init);
  const sseFetch: FetchLike = (url, init) => fetchImpl(url, { ...init, headers: { ...init.headers, ...headers() } });
  const batchFetch: typeof globalThis.fetch = async (input, init) => rejectEdgeErrors(await fetchImpl(input, init));

  const subscriptions = options.EventSource
    ? httpSubscriptionLink({
        url: endpoint,
        transformer: superjson,
        EventSource: options.EventSource,
        connectionParams: options.apiKey ? { token: options.apiKey } : undefined,
      })
    : httpSubscriptionLink({
        url: endpoint,
        transformer: superjson,
        EventSource: FetchEventSource,
        eventSourceOptions: { fetch: sseFetch },
      });

  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: subscriptions,
        // Queries go as GET with their input in the URL; long URLs fail at proxies, so split big batches.
        false: httpBatchStreamLink({ url: endpoint, transformer: superjson, headers, fetch: batchFetch, maxURLLength: 2083, maxItems: 20 }),
      }),
    ],
  });

  const events = (codebaseId: string, opts: EventsOptions = {}): AsyncIterableIterator<AgentEvent> =>
    subscriptionIterator<AgentEvent>(
      (handlers) =>
        trpc.events.onCodebaseEvents.subscribe(
          {
            codebaseId,
            sessionId: opts.sessionId ?? undefined,
            lastEventId: opts.lastEventId === undefined ? undefined : String(opts.lastEventId),
          },
          {
            // Each event arrives `tracked` with its stream id; tRPC keeps the last one for reconnects.
            onData: (tracked) => handlers.onData(tracked.data),
            onError: handlers.onError,
            onComplete: handlers.onComplete,
          },
        ),
      opts.signal,
    );

  const trigger = async (codebaseId: string, request: TriggerRequest): Promise<AgentRun> => {
    const response = await trpc.sessions.trigger.mutate({ codebaseId, request });
    // Follow from the cursor the trigger returned: exactly this run's events, none missed.
    const cursor = response.last_event_id;
    return agentRun(response, (signal) => {
      const followed = events(codebaseId, { sessionId: response.session_id ?? undefined, lastEventId: cursor, signal });
      // Running: the session's events are the run's. Starting (OpenCode booting: the run names its session in its
      // first event) or queued (the session's running turn comes first): from the event that carries its run_id.
      return response.status === "running" ? followed : eventsOfRun(followed, response.run_id);
    });
  };

  return {
    trpc,
    listCodebases: async () => {
      // Page by page (the server answers at most 100 at a time), so this is every codebase.
      const all = [];
      let cursor: string | undefined;
      do {
        const page = await trpc.codebases.page.query(cursor ? { cursor } : undefined);
        all.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      return all;
    },
    createCodebase: (input) => trpc.codebases.create.mutate(input),
    listModels: () => trpc.models.list.query(),
    createTask: (codebaseId, task) => trpc.tasks.create.mutate({ codebaseId, task }),
    events,
    trigger,
    triggerAndWait: async (codebaseId, request, waitOptions) => (await trigger(codebaseId, request)).wait(waitOptions),
    diff: (codebaseId, sessionId) => trpc.sessions.diff.query({ codebaseId, sessionId }),
    applyChanges: (codebaseId, sessionId, applyOptions = {}) => trpc.sessions.applyChanges.mutate({ codebaseId, sessionId, ...applyOptions }),
    discardChanges: (codebaseId, sessionId) => trpc.sessions.discardChanges.mutate({ codebaseId, sessionId }),
  };
}
