/** REST shim for the task queue, as clients use it: create, list, read, retry and cancel tasks, and list workers. */
import { z } from "@hono/zod-openapi";
import { cancelTask, createTask, createTasks, getTask, listTasks, retryTask } from "../../services/tasks/tasks.js";
import { CreatedTasks, CreateTaskRequest, CreateTasksRequest, ListTasksQuery, RetryTaskRequest, Task, Worker } from "../../services/tasks/tasks.types.js";
import { listWorkers } from "../../services/tasks/workers.js";
import { type Api, apiRoute, IdParam, jsonBody, jsonResponse, pagedResponse, respondPage, TaskParam } from "../openapi.js";

const tags = ["Tasks"];

const routes = {
  create: apiRoute(
    {
      method: "post",
      access: "write",
      path: "/v1/opencode/codebases/{id}/tasks",
      operationId: "tasks.create",
      tags,
      summary: "Queue a task for the codebase; larger priority runs first",
      request: { params: IdParam, body: jsonBody(CreateTaskRequest) },
      responses: { 201: jsonResponse(Task, "The queued task") },
    },
    404,
  ),
  createMany: apiRoute(
    {
      method: "post",
      access: "write",
      path: "/v1/opencode/codebases/{id}/tasks/batch",
      operationId: "tasks.createMany",
      tags,
      summary: "Queue up to 500 tasks for the codebase at once, all or none (one transaction)",
      request: { params: IdParam, body: jsonBody(CreateTasksRequest) },
      responses: { 201: jsonResponse(CreatedTasks, "The queued tasks, in the order given") },
    },
    404,
  ),
  list: apiRoute({
    method: "get",
    access: "read",
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
      access: "read",
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
      access: "write",
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
      access: "write",
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
    access: "read",
    path: "/v1/opencode/workers",
    operationId: "workers.list",
    tags: ["Workers"],
    summary: "Registered workers with their codebases, last heartbeat and online state",
    responses: { 200: jsonResponse(z.array(Worker), "Workers") },
  }),
};

/** Registers the task queue's client routes. */
export function registerTaskRoutes(app: Api) {
  app.openapi(routes.create, async (c) => c.json(await createTask({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, input: c.req.valid("json") }), 201));
  app.openapi(routes.createMany, async (c) =>
    c.json({ tasks: await createTasks({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, input: c.req.valid("json") }) }, 201),
  );
  app.openapi(routes.list, async (c) => respondPage(c, await listTasks({ ctx: c.var.ctx, query: c.req.valid("query") })));
  app.openapi(routes.get, async (c) => c.json(await getTask({ ctx: c.var.ctx, id: c.req.valid("param").task_id }), 200));
  app.openapi(routes.retry, async (c) => c.json(await retryTask({ ctx: c.var.ctx, id: c.req.valid("param").task_id, input: c.req.valid("json") }), 200));
  app.openapi(routes.cancel, async (c) => c.json(await cancelTask({ ctx: c.var.ctx, id: c.req.valid("param").task_id }), 200));
  app.openapi(routes.workers, async (c) => c.json(await listWorkers({ ctx: c.var.ctx }), 200));
}
