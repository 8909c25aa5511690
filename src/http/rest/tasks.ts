/** REST shim for the task queue (clients) and the worker protocol (workers). */
import { z } from "@hono/zod-openapi";
import { RunnerModels } from "../../contracts/models.js";
import { completeTask, heartbeatTask, releaseTask, uploadTaskEvents, uploadTaskMessages } from "../../services/tasks/task-queue.js";
import { cancelTask, createTask, getTask, listTasks, retryTask } from "../../services/tasks/tasks.js";
import {
  Claim,
  CompleteManyRequest,
  CompleteTaskRequest,
  CompletionResult,
  CreateTaskRequest,
  LeaseRef,
  ListTasksQuery,
  RegisterWorkerRequest,
  RetryTaskRequest,
  Task,
  UploadEventsRequest,
  UploadMessagesRequest,
  Worker,
} from "../../services/tasks/tasks.types.js";
import { claimForWorker, completeMany } from "../../services/tasks/worker-claims.js";
import { listWorkers, registerWorker, touchWorker } from "../../services/tasks/workers.js";
import { type Api, apiRoute, IdParam, jsonBody, jsonResponse, pagedResponse, pathId, respondPage } from "../openapi.js";

const TaskParam = z.object({ task_id: pathId("task_id") });
/** A claim may wait this long for work at most (a long poll that proxies and clients keep open). */
const maxWaitSeconds = 30;
const maxClaims = 32;
const WaitSeconds = z
  .number()
  .min(0)
  .max(maxWaitSeconds)
  .optional()
  .openapi({ description: `Wait up to this many seconds (0-${maxWaitSeconds}) for a task when there is none; default 0` });
const WorkerName = z.object({ name: RegisterWorkerRequest.shape.name });
const tags = ["Tasks"];
const wtags = ["Worker protocol"];
const worker = "/v1/opencode/worker";
/** Worker routes take the worker token instead of the API key (see `createApp`). */
const workerSecurity = [{ workerToken: [] }];

const routes = {
  create: apiRoute(
    {
      method: "post",
      path: "/v1/opencode/codebases/{id}/tasks",
      operationId: "tasks.create",
      tags,
      summary: "Queue a task for the codebase; larger priority runs first",
      request: { params: IdParam, body: jsonBody(CreateTaskRequest) },
      responses: { 201: jsonResponse(Task, "The queued task") },
    },
    404,
  ),
  list: apiRoute({
    method: "get",
    path: "/v1/opencode/tasks",
    operationId: "tasks.list",
    tags,
    summary: "Tasks in the order runners take them, filtered by status, codebase or worker; `q` searches titles and prompts",
    request: { query: ListTasksQuery },
    responses: { 200: pagedResponse(Task, "Tasks") },
  }),
  get: apiRoute(
    {
      method: "get",
      path: "/v1/opencode/tasks/{task_id}",
      operationId: "tasks.get",
      tags,
      summary: "One task",
      request: { params: TaskParam },
      responses: { 200: jsonResponse(Task, "The task") },
    },
    404,
  ),
  retry: apiRoute(
    {
      method: "post",
      path: "/v1/opencode/tasks/{task_id}/retry",
      operationId: "tasks.retry",
      tags,
      summary: "Run a failed or cancelled task again, as a new attempt",
      description:
        "It is pending at once and gets `attempts` more tries (default 3). Its history (`GET /v1/opencode/tasks/{task_id}/events`) " +
        "goes on across attempts; the new run starts a new session. 409 when the task is not failed or cancelled.",
      request: { params: TaskParam, body: { content: { "application/json": { schema: RetryTaskRequest } }, required: false } },
      responses: { 200: jsonResponse(Task, "The task, pending again") },
    },
    404,
    409,
  ),
  cancel: apiRoute(
    {
      method: "post",
      path: "/v1/opencode/tasks/{task_id}/cancel",
      operationId: "tasks.cancel",
      tags,
      summary: "Cancel a task: at once when pending; a running one's agent is aborted wherever it runs",
      description: "409 when the task has already finished.",
      request: { params: TaskParam },
      responses: { 200: jsonResponse(Task, "The task after the cancel") },
    },
    404,
    409,
  ),
  workers: apiRoute({
    method: "get",
    path: "/v1/opencode/workers",
    operationId: "workers.list",
    tags: ["Workers"],
    summary: "Registered workers with their codebases, last heartbeat and online state",
    responses: { 200: jsonResponse(z.array(Worker), "Workers") },
  }),
  register: apiRoute({
    method: "post",
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
      path: `${worker}/heartbeat`,
      operationId: "worker.heartbeat",
      tags: wtags,
      security: workerSecurity,
      summary: "A worker is alive (and whether it is draining); 404 until it has registered",
      request: {
        body: jsonBody(
          WorkerName.extend({
            draining: z.boolean().optional(),
            models: RunnerModels.optional().openapi({ description: "Sent when what the worker's OpenCode can run changed" }),
          })
            .strict()
            .openapi("WorkerHeartbeatRequest"),
        ),
      },
      responses: { 200: jsonResponse(z.object({ ok: z.literal(true) }).openapi("WorkerHeartbeatResponse"), "Noted") },
    },
    404,
  ),
  claim: apiRoute(
    {
      method: "post",
      path: `${worker}/claim`,
      operationId: "worker.claim",
      tags: wtags,
      security: workerSecurity,
      summary: "Take the most urgent task this worker may run, with a lease; optionally wait for one",
      description:
        "Answers at once when a task is runnable for this worker. With `wait_seconds` (up to 30) and nothing to run, the " +
        "call waits and answers as soon as a task becomes runnable for this worker (a new task, one released or requeued), " +
        "or 204 when the wait ends or the server shuts down. Two waiting workers never get the same task.",
      request: { body: jsonBody(WorkerName.extend({ wait_seconds: WaitSeconds }).strict().openapi("ClaimRequest")) },
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
      path: `${worker}/claims`,
      operationId: "worker.claimMany",
      tags: wtags,
      security: workerSecurity,
      summary: "Take up to max_tasks runnable tasks in one call, each with a lease of its own; optionally wait for work",
      description: 'For workers that run many small tasks. Answers `{"claims": []}` when there is nothing to run (after `wait_seconds`).',
      request: {
        body: jsonBody(
          WorkerName.extend({
            max_tasks: z
              .number()
              .int()
              .min(1)
              .max(maxClaims)
              .openapi({ description: `How many tasks at most (1-${maxClaims})` }),
            wait_seconds: WaitSeconds,
          })
            .strict()
            .openapi("ClaimManyRequest"),
        ),
      },
      responses: { 200: jsonResponse(z.object({ claims: z.array(Claim) }).openapi("ClaimManyResponse"), "The claims (maybe none)") },
    },
    404,
  ),
  completeMany: apiRoute({
    method: "post",
    path: `${worker}/completions`,
    operationId: "worker.completeMany",
    tags: wtags,
    security: workerSecurity,
    summary: "Report several attempts' outcomes in one call (each fenced by its own lease; idempotent)",
    description:
      "Each item is answered on its own, in order: `ok: true` with the finished task, or `ok: false` with `conflict` (the " +
      "lease was lost or the task ended with another outcome) or `not_found`. Repeating a batch changes nothing.",
    request: { body: jsonBody(CompleteManyRequest) },
    responses: { 200: jsonResponse(z.object({ results: z.array(CompletionResult) }).openapi("CompleteManyResponse"), "One result per item") },
  }),
  taskHeartbeat: apiRoute(
    {
      method: "post",
      path: `${worker}/tasks/{task_id}/heartbeat`,
      operationId: "worker.taskHeartbeat",
      tags: wtags,
      security: workerSecurity,
      summary: "Keep the lease alive; the answer says whether the task was cancelled",
      description: "409 when the lease was lost (the task was reassigned or finished): stop working on it.",
      request: { params: TaskParam, body: jsonBody(LeaseRef.openapi("TaskHeartbeatRequest")) },
      responses: {
        200: jsonResponse(z.object({ cancel_requested: z.boolean(), lease_seconds: z.number().int() }).openapi("TaskHeartbeatResponse"), "Lease extended"),
      },
    },
    404,
    409,
  ),
  messages: apiRoute(
    {
      method: "post",
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
        200: jsonResponse(
          z.object({ stored: z.number().int(), message_count: z.number().int() }).openapi("UploadMessagesResponse"),
          "Stored; message_count is how many the session has now",
        ),
      },
    },
    404,
    409,
  ),
  events: apiRoute(
    {
      method: "post",
      path: `${worker}/tasks/{task_id}/events`,
      operationId: "worker.uploadEvents",
      tags: wtags,
      security: workerSecurity,
      summary: "Upload the attempt's events, numbered from 1; resent ones are skipped",
      description: "409 when the lease was lost. 422 when an event's type cannot be uploaded or its data does not match its schema.",
      request: { params: TaskParam, body: jsonBody(UploadEventsRequest) },
      responses: {
        200: jsonResponse(
          z.object({ acked_through: z.number().int(), stored: z.number().int() }).openapi("UploadEventsResponse"),
          "Stored through acked_through",
        ),
      },
    },
    404,
    409,
  ),
  complete: apiRoute(
    {
      method: "post",
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
      path: `${worker}/tasks/{task_id}/release`,
      operationId: "worker.release",
      tags: wtags,
      security: workerSecurity,
      summary: "Hand a task back (shutting down); it is runnable again at once",
      description: "409 when the lease was lost.",
      request: {
        params: TaskParam,
        body: jsonBody(LeaseRef.extend({ reason: z.string().max(500).optional() }).openapi("ReleaseTaskRequest")),
      },
      responses: { 200: jsonResponse(Task, "The task, pending again") },
    },
    404,
    409,
  ),
};

/** Registers the task queue and worker protocol routes. */
export function registerTaskRoutes(app: Api) {
  app.openapi(routes.create, async (c) => c.json(await createTask({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, input: c.req.valid("json") }), 201));
  app.openapi(routes.list, async (c) => respondPage(c, await listTasks({ ctx: c.var.ctx, query: c.req.valid("query") })));
  app.openapi(routes.get, async (c) => c.json(await getTask({ ctx: c.var.ctx, id: c.req.valid("param").task_id }), 200));
  app.openapi(routes.retry, async (c) => c.json(await retryTask({ ctx: c.var.ctx, id: c.req.valid("param").task_id, input: c.req.valid("json") }), 200));
  app.openapi(routes.cancel, async (c) => c.json(await cancelTask({ ctx: c.var.ctx, id: c.req.valid("param").task_id }), 200));
  app.openapi(routes.workers, async (c) => c.json(await listWorkers({ ctx: c.var.ctx }), 200));

  app.openapi(routes.register, async (c) => c.json(await registerWorker({ ctx: c.var.ctx, input: c.req.valid("json") }), 200));
  app.openapi(routes.heartbeat, async (c) => {
    const { name, draining, models } = c.req.valid("json");
    await touchWorker(c.var.ctx, name, { draining, models });
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.claim, async (c) => {
    const { name, wait_seconds = 0 } = c.req.valid("json");
    const [claim] = await claimForWorker(c.var.ctx, name, { max: 1, waitSeconds: wait_seconds, signal: c.req.raw.signal });
    return claim ? c.json(claim, 200) : c.body(null, 204);
  });
  app.openapi(routes.claimMany, async (c) => {
    const { name, max_tasks, wait_seconds = 0 } = c.req.valid("json");
    return c.json({ claims: await claimForWorker(c.var.ctx, name, { max: max_tasks, waitSeconds: wait_seconds, signal: c.req.raw.signal }) }, 200);
  });
  app.openapi(routes.completeMany, async (c) => c.json({ results: await completeMany(c.var.ctx, c.req.valid("json")) }, 200));
  app.openapi(routes.taskHeartbeat, async (c) => c.json(await heartbeatTask(c.var.ctx, c.req.valid("param").task_id, c.req.valid("json").lease_token), 200));
  app.openapi(routes.messages, async (c) => c.json(await uploadTaskMessages(c.var.ctx, c.req.valid("param").task_id, c.req.valid("json")), 200));
  app.openapi(routes.events, async (c) => c.json(await uploadTaskEvents(c.var.ctx, c.req.valid("param").task_id, c.req.valid("json")), 200));
  app.openapi(routes.complete, async (c) => c.json(await completeTask(c.var.ctx, c.req.valid("param").task_id, c.req.valid("json")), 200));
  app.openapi(routes.release, async (c) => {
    const body = c.req.valid("json");
    const reason = body.reason ?? "released by the worker";
    return c.json(await releaseTask(c.var.ctx, c.req.valid("param").task_id, body.lease_token, reason), 200);
  });
}
