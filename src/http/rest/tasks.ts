/** REST shim for the task queue (clients) and the worker protocol (workers). */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { ServiceContext } from "../../services/context.js";
import { claimTask, completeTask, heartbeatTask, releaseTask, uploadTaskEvents } from "../../services/task-queue.js";
import { cancelTask, createTask, getTask, listTasks } from "../../services/tasks.js";
import {
  Claim,
  CompleteTaskRequest,
  CreateTaskRequest,
  LeaseRef,
  ListTasksQuery,
  RegisterWorkerRequest,
  Task,
  UploadEventsRequest,
  Worker,
} from "../../services/tasks.types.js";
import { listWorkers, registerWorker, touchWorker } from "../../services/workers.js";
import { errorResponses, IdParam, jsonBody, jsonResponse } from "../openapi.js";

const TaskParam = z.object({ task_id: z.string().min(1).max(200).openapi({ param: { name: "task_id", in: "path" } }) });
const WorkerName = z.object({ name: RegisterWorkerRequest.shape.name });
const wtags = ["Worker protocol"];
const worker = "/v1/opencode/worker";
const workerSecurity = [{ workerToken: [] }];

const routes = {
  create: createRoute({
    method: "post",
    path: "/v1/opencode/codebases/{id}/tasks",
    operationId: "tasks.create",
    tags: ["Tasks"],
    summary: "Queue a task for the codebase; larger priority runs first",
    request: { params: IdParam, body: jsonBody(CreateTaskRequest) },
    responses: { 201: jsonResponse(Task, "The queued task"), ...errorResponses(400, 404, 413, 415, 422) },
  }),
  list: createRoute({
    method: "get",
    path: "/v1/opencode/tasks",
    operationId: "tasks.list",
    tags: ["Tasks"],
    summary: "Tasks in the order runners take them, filtered by status, codebase or worker",
    request: { query: ListTasksQuery },
    responses: { 200: jsonResponse(z.array(Task), "Tasks"), ...errorResponses(422) },
  }),
  get: createRoute({
    method: "get",
    path: "/v1/opencode/tasks/{task_id}",
    operationId: "tasks.get",
    tags: ["Tasks"],
    summary: "One task",
    request: { params: TaskParam },
    responses: { 200: jsonResponse(Task, "The task"), ...errorResponses(404) },
  }),
  cancel: createRoute({
    method: "post",
    path: "/v1/opencode/tasks/{task_id}/cancel",
    operationId: "tasks.cancel",
    tags: ["Tasks"],
    summary: "Cancel a task: at once when pending; a running one's agent is aborted wherever it runs",
    request: { params: TaskParam },
    responses: { 200: jsonResponse(Task, "The task after the cancel"), ...errorResponses(404, 409) },
  }),
  workers: createRoute({
    method: "get",
    path: "/v1/opencode/workers",
    operationId: "workers.list",
    tags: ["Workers"],
    summary: "Registered workers with their codebases, last heartbeat and online state",
    responses: { 200: jsonResponse(z.array(Worker), "Workers"), ...errorResponses() },
  }),
  register: createRoute({
    method: "post",
    path: `${worker}/register`,
    operationId: "worker.register",
    tags: wtags,
    security: workerSecurity,
    summary: "A worker announces itself and its codebases",
    request: { body: jsonBody(RegisterWorkerRequest) },
    responses: { 200: jsonResponse(Worker, "Registered"), ...errorResponses(400, 415, 422) },
  }),
  heartbeat: createRoute({
    method: "post",
    path: `${worker}/heartbeat`,
    operationId: "worker.heartbeat",
    tags: wtags,
    security: workerSecurity,
    summary: "A worker is alive (and whether it is draining)",
    request: { body: jsonBody(WorkerName.extend({ draining: z.boolean().optional() }).strict()) },
    responses: { 200: jsonResponse(z.object({ ok: z.literal(true) }), "Noted"), ...errorResponses(404, 422) },
  }),
  claim: createRoute({
    method: "post",
    path: `${worker}/claim`,
    operationId: "worker.claim",
    tags: wtags,
    security: workerSecurity,
    summary: "Take the most urgent task this worker may run, with a lease",
    request: { body: jsonBody(WorkerName.strict()) },
    responses: { 200: jsonResponse(Claim, "A task to run"), 204: { description: "Nothing to run now" }, ...errorResponses(404, 422) },
  }),
  taskHeartbeat: createRoute({
    method: "post",
    path: `${worker}/tasks/{task_id}/heartbeat`,
    operationId: "worker.taskHeartbeat",
    tags: wtags,
    security: workerSecurity,
    summary: "Keep the lease alive; the answer says whether the task was cancelled",
    request: { params: TaskParam, body: jsonBody(LeaseRef) },
    responses: {
      200: jsonResponse(z.object({ cancel_requested: z.boolean(), lease_seconds: z.number().int() }), "Lease extended"),
      ...errorResponses(404, 409, 422),
    },
  }),
  events: createRoute({
    method: "post",
    path: `${worker}/tasks/{task_id}/events`,
    operationId: "worker.uploadEvents",
    tags: wtags,
    security: workerSecurity,
    summary: "Upload the attempt's events, numbered from 1; resent ones are skipped",
    request: { params: TaskParam, body: jsonBody(UploadEventsRequest) },
    responses: {
      200: jsonResponse(z.object({ acked_through: z.number().int(), stored: z.number().int() }), "Stored through acked_through"),
      ...errorResponses(404, 409, 413, 422),
    },
  }),
  complete: createRoute({
    method: "post",
    path: `${worker}/tasks/{task_id}/complete`,
    operationId: "worker.complete",
    tags: wtags,
    security: workerSecurity,
    summary: "Report the attempt's outcome (idempotent for the same lease and outcome)",
    request: { params: TaskParam, body: jsonBody(CompleteTaskRequest) },
    responses: { 200: jsonResponse(Task, "The finished task"), ...errorResponses(404, 409, 422) },
  }),
  release: createRoute({
    method: "post",
    path: `${worker}/tasks/{task_id}/release`,
    operationId: "worker.release",
    tags: wtags,
    security: workerSecurity,
    summary: "Hand a task back (shutting down); it is runnable again at once",
    request: { params: TaskParam, body: jsonBody(LeaseRef.extend({ reason: z.string().max(500).optional() })) },
    responses: { 200: jsonResponse(Task, "The task, pending again"), ...errorResponses(404, 409, 422) },
  }),
};

export function registerTaskRoutes(app: OpenAPIHono, ctx: ServiceContext) {
  app.openapi(routes.create, async (c) => {
    const task = await createTask({ ctx, codebaseId: c.req.valid("param").id, input: c.req.valid("json") });
    ctx.localRunner.poke();
    return c.json(task, 201);
  });
  app.openapi(routes.list, async (c) => c.json(await listTasks({ ctx, query: c.req.valid("query") }), 200));
  app.openapi(routes.get, async (c) => c.json(await getTask({ ctx, id: c.req.valid("param").task_id }), 200));
  app.openapi(routes.cancel, async (c) => c.json(await cancelTask({ ctx, id: c.req.valid("param").task_id }), 200));
  app.openapi(routes.workers, async (c) => c.json(await listWorkers({ ctx }), 200));

  app.openapi(routes.register, async (c) => c.json(await registerWorker({ ctx, input: c.req.valid("json") }), 200));
  app.openapi(routes.heartbeat, async (c) => {
    const { name, draining } = c.req.valid("json");
    await touchWorker(ctx, name, draining);
    return c.json({ ok: true as const }, 200);
  });
  app.openapi(routes.claim, async (c) => {
    const row = await touchWorker(ctx, c.req.valid("json").name);
    if (row.draining) return c.body(null, 204);
    const claim = await claimTask(ctx, { kind: "worker", name: row.name, codebaseNames: row.codebases.map((cb) => cb.name) });
    return claim ? c.json(claim, 200) : c.body(null, 204);
  });
  app.openapi(routes.taskHeartbeat, async (c) =>
    c.json(await heartbeatTask(ctx, c.req.valid("param").task_id, c.req.valid("json").lease_token), 200),
  );
  app.openapi(routes.events, async (c) => c.json(await uploadTaskEvents(ctx, c.req.valid("param").task_id, c.req.valid("json")), 200));
  app.openapi(routes.complete, async (c) => c.json(await completeTask(ctx, c.req.valid("param").task_id, c.req.valid("json")), 200));
  app.openapi(routes.release, async (c) => {
    const body = c.req.valid("json");
    return c.json(await releaseTask(ctx, c.req.valid("param").task_id, body.lease_token, body.reason ?? "released by the worker"), 200);
  });
}
