/**
 * CodeTether as an MCP server: the same service verbs as REST and tRPC, as MCP tools
 * whose input schemas are the services' own zod schemas, plus two resources (a
 * codebase's recent events, a session's transcript). A failure comes back as a tool
 * error with the message the REST shim would answer, never as a protocol failure.
 */
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { asServiceError, invalid } from "../contracts/errors.js";
import { Id } from "../contracts/fields.js";
import type { Logger } from "../observability/log.js";
import { packageVersion } from "../package-root.js";
import { createCodebase, getCodebase, listCodebases } from "../services/codebases/codebases.js";
import { CreateCodebaseRequest } from "../services/codebases/codebases.types.js";
import type { ServiceContext } from "../services/context.js";
import { listModels } from "../services/models/models.js";
import { PageQuery } from "../services/paging.js";
import { abortSession, getSession, listSessions, triggerAgent } from "../services/sessions/sessions.js";
import { ListSessionsQuery, TriggerRequest } from "../services/sessions/sessions.types.js";
import { getStatus } from "../services/status.js";
import { cancelTask, createTask, getTask, listTasks, retryTask } from "../services/tasks/tasks.js";
import { CreateTaskRequest, ListTasksQuery, RetryTaskRequest } from "../services/tasks/tasks.types.js";
import { listWorkers } from "../services/tasks/workers.js";
import { usageReport } from "../services/usage/usage.js";
import { UsageQuery } from "../services/usage/usage.types.js";
import { changeRun, getRunDiff, type RunRef } from "../services/worktrees/changes.js";
import { ApplyRequest, PushRequest } from "../services/worktrees/worktrees.types.js";
import { watchRun } from "./run-watch.js";

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** What an agent can read in one go: longer transcripts keep their newest messages. */
const transcriptChars = 20_000;
const defaultWaitSeconds = 300;
/** How much of a diff a tool answer carries. */
const diffChars = 50_000;

/** The tool's answer: JSON text for any client, the same object as structured content for those that read it (a list as `items`). */
function ok(value: unknown): CallToolResult {
  const structured = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { items: value };
  return { content: [{ type: "text", text: JSON.stringify(structured, null, 2) }], structuredContent: structured };
}

/** Runs a service verb; its failures become tool errors with the REST shim's messages. */
const pageNote = "one page of `items` (up to `limit`, default 100); pass `next_cursor` as `cursor` for the next.";

async function call(log: Logger, tool: string, run: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return ok(await run());
  } catch (err) {
    const known = asServiceError(err);
    if (!known) log.error({ err, mcp_tool: tool }, "MCP tool failed with an unexpected error");
    return { isError: true, content: [{ type: "text", text: known ? known.message : "Internal server error" }] };
  }
}

/** Sends MCP progress notifications when the client asked for them (a progressToken). */
function progressOf(extra: Extra): ((message: string) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  let n = 0;
  return (message) => {
    n++;
    void extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: n, message } }).catch(() => {});
  };
}

/** A session's messages as readable text, newest kept when it is too long. */
function transcript(messages: { role: string; text: string; created_at: string }[]): { text: string; truncated: boolean } {
  const lines = messages.map((m) => `[${m.role} ${m.created_at}]\n${m.text}`);
  let text = lines.join("\n\n");
  const truncated = text.length > transcriptChars;
  if (truncated) text = `… (earlier messages left out)\n\n${text.slice(-transcriptChars)}`;
  return { text, truncated };
}

export function createMcpServer(ctx: ServiceContext): McpServer {
  const server = new McpServer({ name: "codetether", version: packageVersion }, { capabilities: { logging: {} } });
  const log = ctx.log;

  server.registerTool(
    "list_codebases",
    {
      title: "List codebases",
      description: `The codebases registered on this CodeTether server, oldest first: ${pageNote}`,
      inputSchema: PageQuery.shape,
      annotations: { readOnlyHint: true },
    },
    (query) => call(log, "list_codebases", () => listCodebases({ ctx, query })),
  );
  server.registerTool(
    "get_codebase",
    {
      title: "Get a codebase",
      description: "One codebase by id: name, path, worker and agent settings.",
      inputSchema: { codebase_id: Id },
      annotations: { readOnlyHint: true },
    },
    ({ codebase_id }) => call(log, "get_codebase", () => getCodebase({ ctx, id: codebase_id })),
  );
  server.registerTool(
    "register_codebase",
    {
      title: "Register a codebase",
      description: "Registers a directory (an absolute path on the server, or on the worker named by worker_id) so agents can run on it.",
      inputSchema: CreateCodebaseRequest,
    },
    (input) => call(log, "register_codebase", () => createCodebase({ ctx, input })),
  );
  server.registerTool(
    "trigger_agent",
    {
      title: "Run an agent",
      description:
        "Starts an OpenCode agent (build, plan, explore or general) on a codebase with a prompt, in a new session or resuming one. " +
        "With wait: true, waits (up to wait_seconds, default 300) for the run to end and answers its outcome, the agent's final text " +
        "and the files it changed, sending progress notifications meanwhile; otherwise answers at once with the session id.",
      inputSchema: TriggerRequest.extend({
        codebase_id: Id,
        wait: z.boolean().optional(),
        wait_seconds: z.number().int().min(1).max(3600).optional(),
      }),
    },
    ({ codebase_id, wait, wait_seconds, ...input }, extra) =>
      call(log, "trigger_agent", async () => {
        const started = await triggerAgent({ ctx, codebaseId: codebase_id, input });
        if (!wait) return started;
        const run = await watchRun(ctx, codebase_id, started, {
          timeoutMs: (wait_seconds ?? defaultWaitSeconds) * 1000,
          signal: extra.signal,
          progress: progressOf(extra),
        });
        return { ...started, ...run, session_id: run.session_id ?? started.session_id };
      }),
  );
  server.registerTool(
    "list_sessions",
    {
      title: "List sessions",
      description: `A codebase's agent sessions, most recent first; \`q\` searches titles: ${pageNote}`,
      inputSchema: { codebase_id: Id, ...ListSessionsQuery.shape },
      annotations: { readOnlyHint: true },
    },
    ({ codebase_id, ...query }) => call(log, "list_sessions", () => listSessions({ ctx, codebaseId: codebase_id, query })),
  );
  server.registerTool(
    "get_session",
    {
      title: "Read a session",
      description: `A session's state and its transcript as text (the newest ${transcriptChars.toLocaleString("en")} characters when longer).`,
      inputSchema: { codebase_id: Id, session_id: Id },
      annotations: { readOnlyHint: true },
    },
    ({ codebase_id, session_id }) =>
      call(log, "get_session", async () => {
        const { messages, ...session } = await getSession({ ctx, codebaseId: codebase_id, sessionId: session_id });
        return { ...session, transcript: transcript(messages) };
      }),
  );
  server.registerTool(
    "abort_session",
    { title: "Abort a run", description: "Stops the agent running in a session; the run ends as aborted.", inputSchema: { codebase_id: Id, session_id: Id } },
    ({ codebase_id, session_id }) => call(log, "abort_session", () => abortSession({ ctx, codebaseId: codebase_id, sessionId: session_id })),
  );
  server.registerTool(
    "create_task",
    {
      title: "Queue a task",
      description: "Queues a durable task for a codebase; this server or a worker that has the codebase runs it, most urgent first.",
      inputSchema: CreateTaskRequest.extend({ codebase_id: Id }),
    },
    ({ codebase_id, ...input }) => call(log, "create_task", () => createTask({ ctx, codebaseId: codebase_id, input })),
  );
  server.registerTool(
    "get_task",
    { title: "Get a task", description: "A task's status, attempts, result or error.", inputSchema: { task_id: Id }, annotations: { readOnlyHint: true } },
    ({ task_id }) => call(log, "get_task", () => getTask({ ctx, id: task_id })),
  );
  server.registerTool(
    "list_tasks",
    {
      title: "List tasks",
      description: `Tasks in the order they run, filtered by status, codebase or worker; \`q\` searches titles and prompts: ${pageNote}`,
      inputSchema: ListTasksQuery,
      annotations: { readOnlyHint: true },
    },
    (query) => call(log, "list_tasks", () => listTasks({ ctx, query })),
  );
  server.registerTool(
    "cancel_task",
    { title: "Cancel a task", description: "Cancels a pending task, or asks its runner to stop a running one.", inputSchema: { task_id: Id } },
    ({ task_id }) => call(log, "cancel_task", () => cancelTask({ ctx, id: task_id })),
  );
  server.registerTool(
    "retry_task",
    {
      title: "Retry a task",
      description: "Runs a failed or cancelled task again as a new attempt (pending at once, with `attempts` more tries, default 3).",
      inputSchema: { task_id: Id, attempts: RetryTaskRequest.shape.attempts },
    },
    ({ task_id, attempts }) => call(log, "retry_task", () => retryTask({ ctx, id: task_id, input: { attempts } })),
  );
  const runRef = { codebase_id: Id.optional(), session_id: Id.optional(), task_id: Id.optional() };
  const refOf = (input: { codebase_id?: string; session_id?: string; task_id?: string }): RunRef => {
    if (input.task_id) return { taskId: input.task_id };
    if (input.codebase_id && input.session_id) return { codebaseId: input.codebase_id, sessionId: input.session_id };
    throw invalid("Name the run: task_id, or codebase_id and session_id");
  };
  const whose = "a session's run (codebase_id and session_id) or a task's latest attempt (task_id)";
  server.registerTool(
    "get_diff",
    {
      title: "Read a run's changes",
      description: `What ${whose} changed in its worktree against its base commit: files with additions and deletions, and the unified diff (the first ${diffChars.toLocaleString("en")} characters).`,
      inputSchema: runRef,
      annotations: { readOnlyHint: true },
    },
    (input) =>
      call(log, "get_diff", async () => {
        const { diff } = await getRunDiff({ ctx, ref: refOf(input) });
        const cut = diff.diff.length > diffChars;
        return { ...diff, diff: cut ? `${diff.diff.slice(0, diffChars)}\n# … (cut here for the tool answer; GET the diff for all of it)\n` : diff.diff };
      }),
  );
  server.registerTool(
    "apply_changes",
    {
      title: "Apply a run's changes",
      description:
        `Brings ${whose} into the codebase: mode merge (a merge commit, the default), fast-forward, or uncommitted (edits in the working tree). ` +
        "Refuses, naming the files and changing nothing, when it would conflict.",
      inputSchema: { ...runRef, mode: ApplyRequest.shape.mode },
    },
    ({ mode, ...input }) => call(log, "apply_changes", () => changeRun({ ctx, ref: refOf(input), action: { op: "apply", mode: mode ?? "merge" } })),
  );
  server.registerTool(
    "discard_changes",
    {
      title: "Discard a run's changes",
      description: `Removes the worktree and branch of ${whose}.`,
      inputSchema: runRef,
      annotations: { destructiveHint: true },
    },
    (input) => call(log, "discard_changes", () => changeRun({ ctx, ref: refOf(input), action: { op: "discard" } })),
  );
  server.registerTool(
    "push_branch",
    {
      title: "Push a run's branch",
      description: `Pushes the branch of ${whose} to the repository's remote (origin, or the one named) with the machine's git credentials.`,
      inputSchema: { ...runRef, remote: PushRequest.shape.remote },
    },
    ({ remote, ...input }) => call(log, "push_branch", () => changeRun({ ctx, ref: refOf(input), action: { op: "push", remote } })),
  );
  server.registerTool(
    "get_usage",
    {
      title: "Usage and cost",
      description: "Tokens and US dollars spent over a time range (default the last 30 days), grouped by codebase, model, worker, agent and/or day.",
      inputSchema: UsageQuery.shape,
      annotations: { readOnlyHint: true },
    },
    (query) => call(log, "get_usage", () => usageReport({ ctx, query })),
  );
  server.registerTool(
    "list_models",
    { title: "List models", description: "The models that can run now, where, and at what cost.", annotations: { readOnlyHint: true } },
    () => call(log, "list_models", () => listModels({ ctx })),
  );
  server.registerTool(
    "list_workers",
    { title: "List workers", description: "The registered workers, online or not, with their codebases and models.", annotations: { readOnlyHint: true } },
    () => call(log, "list_workers", () => listWorkers({ ctx })),
  );
  server.registerTool(
    "get_status",
    {
      title: "Server status",
      description: "Whether OpenCode is available, its version, the database, and how many codebases there are.",
      annotations: { readOnlyHint: true },
    },
    () => call(log, "get_status", () => getStatus({ ctx })),
  );

  server.registerResource(
    "codebase-events",
    new ResourceTemplate("codetether://codebases/{codebase_id}/events", { list: undefined }),
    { title: "A codebase's recent events", description: "The newest 200 agent events of a codebase, as JSON", mimeType: "application/json" },
    async (uri, { codebase_id }) => {
      const id = String(codebase_id);
      await getCodebase({ ctx, id });
      const head = await ctx.events.head(id);
      const events = await ctx.events.read(id, Math.max(0, head - 200), 200);
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(events, null, 2) }] };
    },
  );
  server.registerResource(
    "session-transcript",
    new ResourceTemplate("codetether://codebases/{codebase_id}/sessions/{session_id}", { list: undefined }),
    { title: "A session's transcript", description: "The session's messages as text", mimeType: "text/plain" },
    async (uri, { codebase_id, session_id }) => {
      const session = await getSession({ ctx, codebaseId: String(codebase_id), sessionId: String(session_id) });
      return { contents: [{ uri: uri.href, mimeType: "text/plain", text: transcript(session.messages).text }] };
    },
  );
  return server;
}
