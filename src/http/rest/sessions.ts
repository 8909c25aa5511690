/** REST shim for agent runs and sessions. */
import { z } from "@hono/zod-openapi";
import { PageQuery } from "../../services/paging.js";
import { syncSessions } from "../../services/sessions/session-sync.js";
import { abortSession, answerPermission, getSession, listMessages, listSessions, triggerAgent } from "../../services/sessions/sessions.js";
import {
  ListSessionsQuery,
  Message,
  PermissionAnswer,
  Session,
  SessionDetail,
  SyncResult,
  TriggerRequest,
  TriggerResponse,
} from "../../services/sessions/sessions.types.js";
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
      "409 when the codebase belongs to a worker (queue a task instead) or the session to resume is still running.",
    request: { params: IdParam, body: jsonBody(TriggerRequest) },
    responses: { 202: jsonResponse(TriggerResponse, "The agent was started; follow it on events_url") },
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

/** Registers the session routes. */
export function registerSessionRoutes(app: Api) {
  app.openapi(trigger, async (c) => c.json(await triggerAgent({ ctx: c.var.ctx, codebaseId: c.req.valid("param").id, input: c.req.valid("json") }), 202));
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
