/** REST shim for runs' changes: a session's or task's diff, apply, discard and push. */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { changeRun, getRunDiff, type RunRef } from "../../services/worktrees/changes.js";
import { ApplyRequest, ChangeResult, DiffQuery, PushRequest, RunDiff } from "../../services/worktrees/worktrees.types.js";
import type { WorktreeAction } from "../../workspace/actions.js";
import { type Api, apiRoute, IdParam, jsonResponse, pathId } from "../openapi.js";

const tags = ["Changes"];
const SessionParams = IdParam.extend({ session_id: pathId("session_id") });
const TaskParam = z.object({ task_id: pathId("task_id") });
const sessionBase = "/v1/opencode/codebases/{id}/sessions/{session_id}";
const taskBase = "/v1/opencode/tasks/{task_id}";

const diffResponses = {
  200: {
    description: "The diff: JSON by default, or with `?format=patch` the binary-safe patch itself (for `git apply`)",
    content: {
      "application/json": { schema: RunDiff },
      "text/x-diff": { schema: z.string().openapi("Patch", { description: "A `git diff --binary` patch: `git apply` takes it" }) },
    },
    headers: { "X-Diff-Truncated": { description: "`true` when the patch leaves files out (the size cap)", schema: { type: "string" as const } } },
  },
};

const changeResponses = (what: string) => ({
  200: jsonResponse(ChangeResult, `${what}: done`),
  202: jsonResponse(ChangeResult, `${what}: the worktree lives on a worker, which was given the work (state "queued", follow task_id)`),
});

/** The six verb routes (apply, discard, push) for one kind of run reference. */
function verbRoutes<P extends typeof SessionParams | typeof TaskParam>(kind: "session" | "task", path: string, params: P) {
  const op = (verb: string) => `${kind === "session" ? "sessions" : "tasks"}.${verb}`;
  const of = kind === "session" ? "the session's run" : "the task's latest attempt";
  return {
    diff: apiRoute(
      {
        method: "get",
        access: "read",
        path: `${path}/diff`,
        operationId: op("diff"),
        tags,
        summary: `What ${of} changed in its worktree, against its base commit: files, additions, deletions and the unified diff`,
        description:
          "Read from the database, so it is there after the worktree, the worker or the machine is gone. 404 when the run had no worktree " +
          "(not a git repository, or agent_config.isolation none).",
        request: { params, query: DiffQuery },
        responses: diffResponses,
      },
      404,
    ),
    apply: apiRoute(
      {
        method: "post",
        access: "write",
        path: `${path}/apply`,
        operationId: op("applyChanges"),
        tags,
        summary: `Bring ${of}'s branch into the codebase's current branch (a merge commit or a fast-forward), or its changes as uncommitted edits`,
        description:
          "Checks first and changes nothing on a conflict: 409 naming the files (`conflicts`), whether they conflict with the codebase's " +
          "commits or with its uncommitted or staged changes. 409 too while the run is still running or when it was already applied or discarded. " +
          "The worktree is removed afterwards; a merged branch is deleted.",
        request: { params, body: { content: { "application/json": { schema: ApplyRequest } }, required: false } },
        responses: changeResponses("Applied"),
      },
      404,
      409,
    ),
    discard: apiRoute(
      {
        method: "post",
        access: "write",
        path: `${path}/discard`,
        operationId: op("discardChanges"),
        tags,
        summary: `Throw ${of}'s changes away: its worktree and its branch are removed (its diff stays readable)`,
        request: { params },
        responses: changeResponses("Discarded"),
      },
      404,
      409,
    ),
    push: apiRoute(
      {
        method: "post",
        access: "write",
        path: `${path}/push`,
        operationId: op("pushBranch"),
        tags,
        summary: `Push ${of}'s branch to the repository's remote (\`origin\`, or the one named), with the machine's own git credentials`,
        description: "409 when the repository has no such remote or git refuses the push (its message, with any credentials masked).",
        request: { params, body: { content: { "application/json": { schema: PushRequest } }, required: false } },
        responses: changeResponses("Pushed"),
      },
      404,
      409,
    ),
  };
}

const sessionRoutes = verbRoutes("session", sessionBase, SessionParams);
const taskRoutes = verbRoutes("task", taskBase, TaskParam);

/** The diff as JSON, or as the patch itself. */
// biome-ignore lint/suspicious/noExplicitAny: answered as JSON or as the patch, which the route's typed handler cannot express
async function answerDiff(c: Context<any>, ref: RunRef, format: "json" | "patch" | undefined) {
  const { diff, patch } = await getRunDiff({ ctx: c.var.ctx, ref });
  c.header("X-Diff-Truncated", String(diff.truncated));
  if (format === "patch") return c.body(new Uint8Array(patch), 200, { "content-type": "text/x-diff; charset=utf-8" });
  return c.json(diff, 200);
}

// biome-ignore lint/suspicious/noExplicitAny: 200 or 202 by the outcome
async function answerChange(c: Context<any>, ref: RunRef, action: WorktreeAction) {
  const result = await changeRun({ ctx: c.var.ctx, ref, action });
  return c.json(result, result.state === "queued" ? 202 : 200);
}

/** Registers the changes routes. */
export function registerWorktreeRoutes(app: Api) {
  const s = sessionRoutes;
  const t = taskRoutes;
  const session = (p: { id: string; session_id: string }): RunRef => ({ codebaseId: p.id, sessionId: p.session_id });
  const task = (p: { task_id: string }): RunRef => ({ taskId: p.task_id });
  app.openapi(s.diff, (c) => answerDiff(c, session(c.req.valid("param")), c.req.valid("query").format));
  app.openapi(t.diff, (c) => answerDiff(c, task(c.req.valid("param")), c.req.valid("query").format));
  app.openapi(s.apply, (c) => answerChange(c, session(c.req.valid("param")), { op: "apply", mode: c.req.valid("json")?.mode ?? "merge" }));
  app.openapi(t.apply, (c) => answerChange(c, task(c.req.valid("param")), { op: "apply", mode: c.req.valid("json")?.mode ?? "merge" }));
  app.openapi(s.discard, (c) => answerChange(c, session(c.req.valid("param")), { op: "discard" }));
  app.openapi(t.discard, (c) => answerChange(c, task(c.req.valid("param")), { op: "discard" }));
  app.openapi(s.push, (c) => answerChange(c, session(c.req.valid("param")), { op: "push", remote: c.req.valid("json")?.remote }));
  app.openapi(t.push, (c) => answerChange(c, task(c.req.valid("param")), { op: "push", remote: c.req.valid("json")?.remote }));
}
