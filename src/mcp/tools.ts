/**
 * The MCP tools, as a table: each names the service verb it calls and takes that
 * verb's own zod schema as its input, so MCP, REST and tRPC cannot disagree.
 * `server.ts` registers them all alike (errors become tool errors there).
 */
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { Access } from "../contracts/access.js";
import { invalid } from "../contracts/errors.js";
import { Id } from "../contracts/fields.js";
import { createCodebase, getCodebase, listCodebases } from "../services/codebases/codebases.js";
import { CreateCodebaseRequest } from "../services/codebases/codebases.types.js";
import type { ServiceContext } from "../services/context.js";
import { listModels } from "../services/models/models.js";
import { PageQuery } from "../services/paging.js";
import { abortSession, getSession, listSessions } from "../services/sessions/sessions.js";
import { ListSessionsQuery, TriggerRequest } from "../services/sessions/sessions.types.js";
import { triggerAgent } from "../services/sessions/trigger.js";
import { getStatus } from "../services/status.js";
import { cancelTask, createTask, getTask, listTasks, retryTask } from "../services/tasks/tasks.js";
import { CreateTaskRequest, ListTasksQuery, RetryTaskRequest } from "../services/tasks/tasks.types.js";
import { listWorkers } from "../services/tasks/workers.js";
import { usageReport } from "../services/usage/usage.js";
import { UsageQuery } from "../services/usage/usage.types.js";
import { changeRun, getRunDiff, type RunRef } from "../services/worktrees/changes.js";
import { ApplyRequest, PushRequest } from "../services/worktrees/worktrees.types.js";
import { watchRun } from "./run-watch.js";

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A tool's input: a verb's own object schema (strict ones refuse unknown fields), or a shape of its fields. */
type Input = z.ZodRawShape | z.ZodObject;
type InputOf<S extends Input> = S extends z.ZodObject ? z.infer<S> : S extends z.ZodRawShape ? z.infer<z.ZodObject<S>> : never;

/** One tool: what an agent reads about it, what it takes, and the verb it runs. */
export interface Tool<S extends Input = Input> {
  name: string;
  title: string;
  description: string;
  input: S;
  /** What the caller's role must allow (see contracts/access.ts); a tool it does not allow is not offered. */
  access: Access;
  destructive?: boolean;
  run(input: InputOf<S>, extra: Extra): Promise<unknown>;
}

/** Keeps each entry's input and `run` typed together. */
const tool = <S extends Input>(t: Tool<S>): Tool => t as unknown as Tool;

/** What an agent can read in one go: longer transcripts keep their newest messages, longer diffs their start. */
const transcriptChars = 20_000;
const diffChars = 50_000;
const defaultWaitSeconds = 300;
const pageNote = "one page of `items` (up to `limit`, default 100); pass `next_cursor` as `cursor` for the next.";
const whose = "a session's run (codebase_id and session_id) or a task's latest attempt (task_id)";
const runRef = { codebase_id: Id.optional(), session_id: Id.optional(), task_id: Id.optional() };

function refOf(input: { codebase_id?: string; session_id?: string; task_id?: string }): RunRef {
  if (input.task_id) return { taskId: input.task_id };
  if (input.codebase_id && input.session_id) return { codebaseId: input.codebase_id, sessionId: input.session_id };
  throw invalid("Name the run: task_id, or codebase_id and session_id");
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
export function transcript(messages: { role: string; text: string; created_at: string }[]): { text: string; truncated: boolean } {
  const lines = messages.map((m) => `[${m.role} ${m.created_at}]\n${m.text}`);
  let text = lines.join("\n\n");
  const truncated = text.length > transcriptChars;
  if (truncated) text = `… (earlier messages left out)\n\n${text.slice(-transcriptChars)}`;
  return { text, truncated };
}

/** Every tool, over this server's verbs. */
export function mcpTools(ctx: ServiceContext): Tool[] {
  return [
    tool({
      name: "list_codebases",
      title: "List codebases",
      description: `The codebases registered on this CodeTether server, oldest first: ${pageNote}`,
      input: PageQuery.shape,
      access: "read",
      run: (query) => listCodebases({ ctx, query }),
    }),
    tool({
      name: "get_codebase",
      title: "Get a codebase",
      description: "One codebase by id: name, path, worker and agent settings, runs in flight and the worktrees it keeps.",
      input: { codebase_id: Id },
      access: "read",
      run: ({ codebase_id }) => getCodebase({ ctx, id: codebase_id }),
    }),
    tool({
      name: "register_codebase",
      access: "write",
      title: "Register a codebase",
      description: "Registers a directory (an absolute path on the server, or on the worker named by worker_id) so agents can run on it.",
      input: CreateCodebaseRequest,
      run: (input) => createCodebase({ ctx, input }),
    }),
    tool({
      name: "trigger_agent",
      access: "write",
      title: "Run an agent",
      description:
        "Starts an OpenCode agent (build, plan, explore or general) on a codebase with a prompt, in a new session or resuming one, in a git worktree " +
        "of its own when the codebase is a git repository. With wait: true, waits (up to wait_seconds, default 300) for the run to end and answers " +
        "its outcome, the agent's final text and the files it changed, sending progress notifications meanwhile; otherwise answers at once with the session id.",
      input: TriggerRequest.extend({ codebase_id: Id, wait: z.boolean().optional(), wait_seconds: z.number().int().min(1).max(3600).optional() }),
      run: async ({ codebase_id, wait, wait_seconds, ...input }, extra) => {
        const started = await triggerAgent({ ctx, codebaseId: codebase_id, input });
        if (!wait) return started;
        const run = await watchRun(ctx, codebase_id, started, {
          timeoutMs: (wait_seconds ?? defaultWaitSeconds) * 1000,
          signal: extra.signal,
          progress: progressOf(extra),
        });
        return { ...started, ...run, session_id: run.session_id ?? started.session_id };
      },
    }),
    tool({
      name: "list_sessions",
      title: "List sessions",
      description: `A codebase's agent sessions, most recent first; \`q\` searches titles: ${pageNote}`,
      input: { codebase_id: Id, ...ListSessionsQuery.shape },
      access: "read",
      run: ({ codebase_id, ...query }) => listSessions({ ctx, codebaseId: codebase_id, query }),
    }),
    tool({
      name: "get_session",
      title: "Read a session",
      description: `A session's state and its transcript as text (the newest ${transcriptChars.toLocaleString("en")} characters when longer).`,
      input: { codebase_id: Id, session_id: Id },
      access: "read",
      run: async ({ codebase_id, session_id }) => {
        const { messages, ...session } = await getSession({ ctx, codebaseId: codebase_id, sessionId: session_id });
        return { ...session, transcript: transcript(messages) };
      },
    }),
    tool({
      name: "abort_session",
      access: "write",
      title: "Abort a run",
      description: "Stops the agent running in a session; the run ends as aborted.",
      input: { codebase_id: Id, session_id: Id },
      run: ({ codebase_id, session_id }) => abortSession({ ctx, codebaseId: codebase_id, sessionId: session_id }),
    }),
    tool({
      name: "get_diff",
      title: "Read a run's changes",
      description: `What ${whose} changed in its worktree against its base commit: files with additions and deletions, and the unified diff (the first ${diffChars.toLocaleString("en")} characters).`,
      input: runRef,
      access: "read",
      run: async (input) => {
        const { diff } = await getRunDiff({ ctx, ref: refOf(input) });
        const cut = diff.diff.length > diffChars;
        return { ...diff, diff: cut ? `${diff.diff.slice(0, diffChars)}\n# … (cut here for the tool answer; GET the diff for all of it)\n` : diff.diff };
      },
    }),
    tool({
      name: "apply_changes",
      access: "write",
      title: "Apply a run's changes",
      description:
        `Brings ${whose} into the codebase: mode merge (a merge commit, the default), fast-forward, or uncommitted (edits in the working tree). ` +
        "Refuses, naming the files and changing nothing, when it would conflict.",
      input: { ...runRef, mode: ApplyRequest.shape.mode },
      run: ({ mode, ...input }) => changeRun({ ctx, ref: refOf(input), action: { op: "apply", mode: mode ?? "merge" } }),
    }),
    tool({
      name: "discard_changes",
      access: "write",
      title: "Discard a run's changes",
      description: `Removes the worktree and branch of ${whose}.`,
      input: runRef,
      destructive: true,
      run: (input) => changeRun({ ctx, ref: refOf(input), action: { op: "discard" } }),
    }),
    tool({
      name: "push_branch",
      access: "write",
      title: "Push a run's branch",
      description: `Pushes the branch of ${whose} to the repository's remote (origin, or the one named) with the machine's git credentials.`,
      input: { ...runRef, remote: PushRequest.shape.remote },
      run: ({ remote, ...input }) => changeRun({ ctx, ref: refOf(input), action: { op: "push", remote } }),
    }),
    tool({
      name: "create_task",
      access: "write",
      title: "Queue a task",
      description: "Queues a durable task for a codebase; this server or a worker that has the codebase runs it, most urgent first.",
      input: CreateTaskRequest.extend({ codebase_id: Id }),
      run: ({ codebase_id, ...input }) => createTask({ ctx, codebaseId: codebase_id, input }),
    }),
    tool({
      name: "get_task",
      title: "Get a task",
      description: "A task's status, attempts, result or error, and its latest attempt's worktree.",
      input: { task_id: Id },
      access: "read",
      run: ({ task_id }) => getTask({ ctx, id: task_id }),
    }),
    tool({
      name: "list_tasks",
      title: "List tasks",
      description: `Tasks in the order they run, filtered by status, codebase or worker; \`q\` searches titles and prompts: ${pageNote}`,
      input: ListTasksQuery,
      access: "read",
      run: (query) => listTasks({ ctx, query }),
    }),
    tool({
      name: "cancel_task",
      access: "write",
      title: "Cancel a task",
      description: "Cancels a pending task, or asks its runner to stop a running one.",
      input: { task_id: Id },
      run: ({ task_id }) => cancelTask({ ctx, id: task_id }),
    }),
    tool({
      name: "retry_task",
      access: "write",
      title: "Retry a task",
      description: "Runs a failed or cancelled task again as a new attempt (pending at once, with `attempts` more tries, default 3).",
      input: { task_id: Id, attempts: RetryTaskRequest.shape.attempts },
      run: ({ task_id, attempts }) => retryTask({ ctx, id: task_id, input: { attempts } }),
    }),
    tool({
      name: "get_usage",
      title: "Usage and cost",
      description: "Tokens and US dollars spent over a time range (default the last 30 days), grouped by codebase, model, worker, agent and/or day.",
      input: UsageQuery.shape,
      access: "read",
      run: (query) => usageReport({ ctx, query }),
    }),
    tool({
      name: "list_models",
      title: "List models",
      description: "The models that can run now, where, and at what cost.",
      input: {},
      access: "read",
      run: () => listModels({ ctx }),
    }),
    tool({
      name: "list_workers",
      title: "List workers",
      description: "The registered workers, online or not, with their codebases and models.",
      input: {},
      access: "read",
      run: () => listWorkers({ ctx }),
    }),
    tool({
      name: "get_status",
      title: "Server status",
      description: "Whether OpenCode is available, its version, the database, how many codebases there are, and the worktrees kept.",
      input: {},
      access: "read",
      run: () => getStatus({ ctx }),
    }),
  ];
}
