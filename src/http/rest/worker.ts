/**
 * REST shim for the worker protocol: what `codetether-worker` (or any runner)
 * calls to register, claim, keep its lease, report events, messages, worktrees and
 * outcomes, and hand tasks back. Worker routes take the worker token (see `createApp`).
 */
import type { Context } from "hono";
import { completeMany, completeTask } from "../../services/tasks/completions.js";
import { heartbeatTask, releaseTask } from "../../services/tasks/leases.js";
import { uploadTaskEvents, uploadTaskMessages } from "../../services/tasks/reports.js";
import {
  Claim,
  ClaimManyRequest,
  ClaimManyResponse,
  ClaimRequest,
  CompleteManyRequest,
  CompleteManyResponse,
  CompleteTaskRequest,
  LeaseRef,
  RegisterWorkerRequest,
  ReleaseTaskRequest,
  Task,
  TaskHeartbeatResponse,
  UploadEventsRequest,
  UploadEventsResponse,
  UploadMessagesRequest,
  UploadMessagesResponse,
  Worker,
  WorkerHeartbeatRequest,
  WorkerHeartbeatResponse,
} from "../../services/tasks/tasks.types.js";
import { claimForWorker } from "../../services/tasks/worker-claims.js";
import { registerWorker, touchWorker } from "../../services/tasks/workers.js";
import { reportWorktree } from "../../services/worktrees/reports.js";
import { WorktreeReport, WorktreeReportResponse } from "../../services/worktrees/worktrees.types.js";
import { type Api, apiRoute, jsonBody, jsonResponse, TaskParam } from "../openapi.js";

const wtags = ["Worker protocol"];
const worker = "/v1/opencode/worker";
const workerSecurity = [{ workerToken: [] }];

const routes = {
  register: apiRoute({
    method: "post",
    access: "worker",
    path: `${worker}/register`,
    operationId: "worker.register",
    tags: wtags,
    security: workerSecurity,
    summary: "A worker announces itself and its codebases (again after a restart)",
    request: { body: jsonBody(RegisterWorkerRequest) },
    responses: { 200: jsonResponse(Worker, "Registered") },
  }),
  heartbeat: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/heartbeat`,
      operationId: "worker.heartbeat",
      tags: wtags,
      security: workerSecurity,
      summary: "A worker is alive (and whether it is draining); 404 until it has registered",
      request: {
        body: jsonBody(WorkerHeartbeatRequest),
      },
      responses: { 200: jsonResponse(WorkerHeartbeatResponse, "Noted") },
    },
    404,
  ),
  claim: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/claim`,
      operationId: "worker.claim",
      tags: wtags,
      security: workerSecurity,
      summary: "Take the most urgent task this worker may run, with a lease; optionally wait for one",
      description:
        "Answers at once when a task is runnable for this worker. With `wait_seconds` (up to 30) and nothing to run, the " +
        "call waits and answers as soon as a task becomes runnable for this worker (a new task, one released or requeued), " +
        "or 204 when the wait ends or the server shuts down. Two waiting workers never get the same task.",
      request: { body: jsonBody(ClaimRequest) },
      responses: {
        200: jsonResponse(Claim, "A task to run"),
        204: { description: "Nothing to run now, or the worker is draining; ask again later" },
      },
    },
    404,
  ),
  claimMany: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/claims`,
      operationId: "worker.claimMany",
      tags: wtags,
      security: workerSecurity,
      summary: "Take up to max_tasks runnable tasks in one call, each with a lease of its own; optionally wait for work",
      description: 'For workers that run many small tasks. Answers `{"claims": []}` when there is nothing to run (after `wait_seconds`).',
      request: {
        body: jsonBody(ClaimManyRequest),
      },
      responses: { 200: jsonResponse(ClaimManyResponse, "The claims (maybe none)") },
    },
    404,
  ),
  completeMany: apiRoute({
    method: "post",
    access: "worker",
    path: `${worker}/completions`,
    operationId: "worker.completeMany",
    tags: wtags,
    security: workerSecurity,
    summary: "Report several attempts' outcomes in one call (each fenced by its own lease; idempotent)",
    description:
      "Each item is answered on its own, in order: `ok: true` with the finished task, or `ok: false` with `lease_lost` (the " +
      "lease is not current: stop working on it), `conflict` (the task ended with another outcome) or `not_found`. " +
      "Repeating a batch changes nothing.",
    request: { body: jsonBody(CompleteManyRequest) },
    responses: { 200: jsonResponse(CompleteManyResponse, "One result per item") },
  }),
  taskHeartbeat: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/tasks/{task_id}/heartbeat`,
      operationId: "worker.taskHeartbeat",
      tags: wtags,
      security: workerSecurity,
      summary: "Keep the lease alive; the answer says whether the task was cancelled",
      description: "409 when the lease was lost (the task was reassigned or finished): stop working on it.",
      request: { params: TaskParam, body: jsonBody(LeaseRef.openapi("TaskHeartbeatRequest")) },
      responses: {
        200: jsonResponse(TaskHeartbeatResponse, "Lease extended"),
      },
    },
    404,
    409,
  ),
  messages: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/tasks/{task_id}/messages`,
      operationId: "worker.uploadMessages",
      tags: wtags,
      security: workerSecurity,
      summary: "Upload messages of the attempt's session (new or changed ones, as OpenCode lists them), so its transcript is readable here",
      description:
        "Idempotent: a message sent again replaces itself. The session appears among the codebase's sessions at the first upload. " +
        "409 when the lease was lost or the session belongs to another codebase; 422 when a message names another session.",
      request: { params: TaskParam, body: jsonBody(UploadMessagesRequest) },
      responses: {
        200: jsonResponse(UploadMessagesResponse, "Stored; message_count is how many the session has now"),
      },
    },
    404,
    409,
  ),
  events: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/tasks/{task_id}/events`,
      operationId: "worker.uploadEvents",
      tags: wtags,
      security: workerSecurity,
      summary: "Upload the attempt's events, numbered from 1; resent ones are skipped",
      description: "409 when the lease was lost. 422 when an event's type cannot be uploaded or its data does not match its schema.",
      request: { params: TaskParam, body: jsonBody(UploadEventsRequest) },
      responses: {
        200: jsonResponse(UploadEventsResponse, "Stored through acked_through"),
      },
    },
    404,
    409,
  ),
  complete: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/tasks/{task_id}/complete`,
      operationId: "worker.complete",
      tags: wtags,
      security: workerSecurity,
      summary: "Report the attempt's outcome (idempotent for the same lease and outcome)",
      description: "409 when the lease was lost or the task already ended with another outcome.",
      request: { params: TaskParam, body: jsonBody(CompleteTaskRequest) },
      responses: { 200: jsonResponse(Task, "The finished task") },
    },
    404,
    409,
  ),
  release: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/tasks/{task_id}/release`,
      operationId: "worker.release",
      tags: wtags,
      security: workerSecurity,
      summary: "Hand a task back (shutting down); it is runnable again at once",
      description: "409 when the lease was lost.",
      request: {
        params: TaskParam,
        body: jsonBody(ReleaseTaskRequest),
      },
      responses: { 200: jsonResponse(Task, "The task, pending again") },
    },
    404,
    409,
  ),
  reportWorktree: apiRoute(
    {
      method: "post",
      access: "worker",
      path: `${worker}/tasks/{task_id}/worktree`,
      operationId: "worker.reportWorktree",
      tags: wtags,
      security: workerSecurity,
      summary: "Report the attempt's worktree: once its session exists, with each diff (the patch base64), when its run ends, after an apply, discard or push",
      description:
        "Fenced by the lease like every report, and idempotent. 409 when the lease was lost or the worktree is another task's or runner's. " +
        "Its body may be as large as the diff cap allows (CODETETHER_DIFF_MAX_BYTES, base64), above CODETETHER_MAX_BODY_BYTES.",
      request: { params: TaskParam, body: jsonBody(WorktreeReport) },
      responses: { 200: jsonResponse(WorktreeReportResponse, "Stored") },
    },
    404,
    409,
  ),
};

/** Whether the client's socket is closed already (Node's request, under @hono/node-server; false elsewhere). */
function socketGone(c: Context): () => boolean {
  const incoming = (c.env as { incoming?: { socket?: { destroyed?: boolean; readableEnded?: boolean } } } | undefined)?.incoming;
  return () => incoming?.socket?.destroyed === true || incoming?.socket?.readableEnded === true;
}

/** Registers the worker protocol's routes. */
export function registerWorkerRoutes(app: Api) {
  app.openapi(routes.register, async (c) => c.json(await registerWorker({ ctx: c.var.ctx, input: c.req.valid("json") }), 200));
  app.openapi(routes.heartbeat, async (c) => {
    const { name, draining, models } = c.req.valid("json");
    await touchWorker({ ctx: c.var.ctx, name, report: { draining, models } });
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.claim, async (c) => {
    const { name, wait_seconds = 0 } = c.req.valid("json");
    const [claim] = await claimForWorker({ ctx: c.var.ctx, name, max: 1, waitSeconds: wait_seconds, signal: c.req.raw.signal, gone: socketGone(c) });
    return claim ? c.json(claim, 200) : c.body(null, 204);
  });
  app.openapi(routes.claimMany, async (c) => {
    const { name, max_tasks, wait_seconds = 0 } = c.req.valid("json");
    return c.json(
      { claims: await claimForWorker({ ctx: c.var.ctx, name, max: max_tasks, waitSeconds: wait_seconds, signal: c.req.raw.signal, gone: socketGone(c) }) },
      200,
    );
  });
  app.openapi(routes.completeMany, async (c) => c.json({ results: await completeMany({ ctx: c.var.ctx, input: c.req.valid("json") }) }, 200));
  app.openapi(routes.taskHeartbeat, async (c) =>
    c.json(await heartbeatTask({ ctx: c.var.ctx, taskId: c.req.valid("param").task_id, token: c.req.valid("json").lease_token }), 200),
  );
  app.openapi(routes.messages, async (c) =>
    c.json(await uploadTaskMessages({ ctx: c.var.ctx, taskId: c.req.valid("param").task_id, input: c.req.valid("json") }), 200),
  );
  app.openapi(routes.events, async (c) =>
    c.json(await uploadTaskEvents({ ctx: c.var.ctx, taskId: c.req.valid("param").task_id, input: c.req.valid("json") }), 200),
  );
  app.openapi(routes.complete, async (c) =>
    c.json(await completeTask({ ctx: c.var.ctx, taskId: c.req.valid("param").task_id, input: c.req.valid("json") }), 200),
  );
  app.openapi(routes.release, async (c) => {
    const body = c.req.valid("json");
    const reason = body.reason ?? "released by the worker";
    return c.json(await releaseTask({ ctx: c.var.ctx, taskId: c.req.valid("param").task_id, token: body.lease_token, reason }), 200);
  });
  app.openapi(routes.reportWorktree, async (c) =>
    c.json(await reportWorktree({ ctx: c.var.ctx, taskId: c.req.valid("param").task_id, input: c.req.valid("json") }), 200),
  );
}
