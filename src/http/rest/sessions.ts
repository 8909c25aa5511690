/** REST shim for agent runs and sessions. */
import { z } from "@hono/zod-openapi";
import { PageQuery } from "../../services/paging.js";
import { syncSessions } from "../../services/sessions/session-sync.js";
import {
  abortSession,
  answerPermission,
  editQueuedPrompt,
  getSession,
  listAllSessions,
  listMessages,
  listQueuedPrompts,
  listSessions,
  removeQueuedPrompt,
} from "../../services/sessions/sessions.js";
import {
  EditQueuedPrompt,
  ListAllSessionsQuery,
  ListSessionsQuery,
  Message,
  PermissionAnswer,
  QueuedPrompt,
  Session,
  SessionDetail,
  SyncResult,
  TriggerAnswer,
  TriggerRequest,
} from "../../services/sessions/sessions.types.js";
import { triggerAgent } from "../../services/sessions/trigger.js";
import { type Api, apiRoute, IdParam, jsonBody, jsonResponse, pagedResponse, pathId, respondPage } from "../openapi.js";

const tags = ["Sessions"];
const base = "/v1/opencode/codebases/{id}";
const SessionParams = IdParam.extend({ session_id: pathId("session_id") });

const trigger = apiRoute(
  {
    method: "post",
    access: "write",
    path: `${base}/trigger`,
    operationId: "sessions.trigger",
    tags,
    summary: "Run an agent on the codebase; resumes the codebase's active session unless told otherwise",
    description:
      "Answers at once with 202 while the agent runs; follow it on `events_url`. " +
      "409 when the codebase belongs to a worker (queue a task instead) or the session to resume is still running " +
      "(send `queue: true` to run the prompt as its next turn instead).",
    request: { params: IdParam, body: jsonBody(TriggerRequest) },
    responses: {
      202: jsonResponse(TriggerAnswer, "The agent was started (`running`, or `starting` while OpenCode boots), or the prompt `queued` behind the running turn"),
    },
  },
  404,
  409,
  503,
);

const list = apiRoute(
  {
    method: "get",
    access: "read",
    path: `${base}/sessions`,
    operationId: "sessions.list",
    tags,
    summary: "The codebase's sessions, most recently active first; `q` searches titles",
    request: { params: IdParam, query: ListSessionsQuery },
    responses: { 200: pagedResponse(Session, "Sessions") },
  },
  404,
);

const listAll = apiRoute({
  method: "get",
  access: "read",
  path: "/v1/opencode/sessions",
  operationId: "sessions.listAll",
  tags,
  summary: "Every codebase's sessions (those your key may see), most recently active first; filter by codebase and status, `q` searches titles",
  request: { query: ListAllSessionsQuery },
  responses: { 200: pagedResponse(Session, "Sessions") },
});

const get = apiRoute(
  {
    method: "get",
    access: "read",
    path: `${base}/sessions/{session_id}`,
    operationId: "sessions.get",
    tags,
    summary: "One session with its messages",
    request: { params: SessionParams },
    responses: { 200: jsonResponse(SessionDetail, "The session") },
  },
  404,
);

const messagesRoute = apiRoute(
  {
    method: "get",
    access: "read",
    path: `${base}/sessions/{session_id}/messages`,
    operationId: "sessions.messages",
    tags,
    summary: "The session's whole transcript, a page at a time, oldest first",
    request: { params: SessionParams, query: PageQuery },
    responses: { 200: pagedResponse(Message, "Messages") },
  },
  400,
  404,
);

const abort = apiRoute(
  {
    method: "post",
    access: "write",
    path: `${base}/sessions/{session_id}/abort`,
    operationId: "sessions.abort",
    tags,
    summary: "Stop a running agent; its run completes with status aborted",
    request: { params: SessionParams },
    responses: {
      202: jsonResponse(z.object({ session_id: z.string(), status: z.literal("aborting") }).openapi("AbortResponse"), "Abort requested"),
    },
  },
  404,
  409,
  503,
);

const permission = apiRoute(
  {
    method: "post",
    access: "write",
    path: `${base}/sessions/{session_id}/permissions/{permission_id}`,
    operationId: "sessions.answerPermission",
    tags,
    summary: "Answer a permission request the agent is waiting on (see the permission event)",
    request: { params: SessionParams.extend({ permission_id: pathId("permission_id") }), body: jsonBody(PermissionAnswer) },
    responses: {
      200: jsonResponse(z.object({ permission_id: z.string(), reply: PermissionAnswer.shape.reply }).openapi("PermissionAnswered"), "Answer sent"),
    },
  },
  404,
  503,
);

const sync = apiRoute(
  {
    method: "post",
    access: "write",
    path: `${base}/sessions/sync`,
    operationId: "sessions.sync",
    tags,
    summary: "Import sessions made directly in OpenCode for this codebase's directory (idempotent)",
    request: { params: IdParam },
    responses: { 200: jsonResponse(SyncResult, "What was imported or updated") },
  },
  404,
  409,
  503,
);

const QueueParams = SessionParams.extend({ prompt_id: pathId("prompt_id", "qp_0a1b2c3d4e5f") });

const queue = apiRoute(
  {
    method: "get",
    access: "read",
    path: `${base}/sessions/{session_id}/queue`,
    operationId: "sessions.queue",
    tags,
    summary: "The session's queued follow-ups (sent with `queue: true` while it ran): waiting ones in order, then those that started or ended",
    request: { params: SessionParams },
    responses: { 200: jsonResponse(z.array(QueuedPrompt), "Queued prompts") },
  },
  404,
);

const editQueuedRoute = apiRoute(
  {
    method: "patch",
    access: "write",
    path: `${base}/sessions/{session_id}/queue/{prompt_id}`,
    operationId: "sessions.editQueued",
    tags,
    summary: "Change a queued follow-up's prompt, agent or model before it starts (409 once it has)",
    request: { params: QueueParams, body: jsonBody(EditQueuedPrompt) },
    responses: { 200: jsonResponse(QueuedPrompt, "The queued prompt") },
  },
  404,
  409,
);

const removeQueuedRoute = apiRoute(
  {
    method: "delete",
    access: "write",
    path: `${base}/sessions/{session_id}/queue/{prompt_id}`,
    operationId: "sessions.removeQueued",
    tags,
    summary: "Remove a queued follow-up before it starts (409 once it has)",
    request: { params: QueueParams },
    responses: { 200: jsonResponse(z.object({ id: z.string(), removed: z.literal(true) }).openapi("QueuedPromptRemoved"), "Removed") },
  },
  404,
  409,
);

/** Registers the session routes. */
export function registerSessionRoutes(app: Api) {
  app.openapi(trigger, async (c) => c.json(await triggerAgent({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, input: c.req.valid("json") }), 202));
  app.openapi(listAll, async (c) => respondPage(c, await listAllSessions({ ctx: c.var.ctx, query: c.req.valid("query") })));
  app.openapi(list, async (c) => respondPage(c, await listSessions({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, query: c.req.valid("query") })));
  // Registered before `get` so "sync" is never read as a session id.
  app.openapi(sync, async (c) => c.json(await syncSessions({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id }), 200));
  app.openapi(get, async (c) => {
    const { id, session_id } = c.req.valid("param");
    return c.json(await getSession({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id }), 200);
  });
  app.openapi(messagesRoute, async (c) => {
    const { id, session_id } = c.req.valid("param");
    return respondPage(c, await listMessages({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id, query: c.req.valid("query") }));
  });
  app.openapi(queue, async (c) => {
    const { id, session_id } = c.req.valid("param");
    return c.json(await listQueuedPrompts({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id }), 200);
  });
  app.openapi(editQueuedRoute, async (c) => {
    const { id, session_id, prompt_id } = c.req.valid("param");
    return c.json(await editQueuedPrompt({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id, promptId: prompt_id, input: c.req.valid("json") }), 200);
  });
  app.openapi(removeQueuedRoute, async (c) => {
    const { id, session_id, prompt_id } = c.req.valid("param");
    return c.json(await removeQueuedPrompt({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id, promptId: prompt_id }), 200);
  });
  app.openapi(abort, async (c) => {
    const { id, session_id } = c.req.valid("param");
    return c.json(await abortSession({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id }), 202);
  });
  app.openapi(permission, async (c) => {
    const { id, session_id, permission_id } = c.req.valid("param");
    const input = c.req.valid("json");
    return c.json(await answerPermission({ ctx: c.var.ctx, codebaseId: id, sessionId: session_id, permissionId: permission_id, input }), 200);
  });
}
