/** REST shim for users, API keys and the audit log: admins only. */
import { z } from "@hono/zod-openapi";
import {
  ApiKey,
  AuditEntry,
  AuditQuery,
  CreatedKey,
  CreateKeyRequest,
  CreateUserRequest,
  Me,
  UpdateUserRequest,
  User,
} from "../../services/access/access.types.js";
import { listAudit } from "../../services/access/audit.js";
import { createKey, createUser, describeCaller, listKeys, listUsers, revokeKey, updateUser } from "../../services/access/keys.js";
import { type Api, apiRoute, jsonBody, jsonResponse, pagedResponse, pathId, respondPage } from "../openapi.js";

const tags = ["Access"];
const base = "/v1/opencode";
const UserParam = z.object({ user_id: pathId("user_id", "usr_0a1b2c3d4e5f") });
const KeyParam = z.object({ key_id: pathId("key_id", "0a1b2c3d4e5f") });

const routes = {
  me: apiRoute({
    method: "get",
    access: "read",
    path: `${base}/me`,
    operationId: "me.get",
    tags,
    summary: "Who the key you sent belongs to, and its role and codebases",
    responses: { 200: jsonResponse(Me, "The caller") },
  }),
  listUsers: apiRoute({
    method: "get",
    access: "admin",
    path: `${base}/users`,
    operationId: "users.list",
    tags,
    summary: "List the users, oldest first",
    responses: { 200: jsonResponse(z.array(User), "The users") },
  }),
  createUser: apiRoute(
    {
      method: "post",
      access: "admin",
      path: `${base}/users`,
      operationId: "users.create",
      tags,
      summary: "Add a user with a role; give them a key with POST /keys",
      request: { body: jsonBody(CreateUserRequest) },
      responses: { 201: jsonResponse(User, "The user") },
    },
    409,
  ),
  updateUser: apiRoute(
    {
      method: "patch",
      access: "admin",
      path: `${base}/users/{user_id}`,
      operationId: "users.update",
      tags,
      summary: "Change a user's role, or disable them (their keys are refused on every server within a second)",
      request: { params: UserParam, body: jsonBody(UpdateUserRequest) },
      responses: { 200: jsonResponse(User, "The user") },
    },
    404,
  ),
  listKeys: apiRoute({
    method: "get",
    access: "admin",
    path: `${base}/keys`,
    operationId: "keys.list",
    tags,
    summary: "List the API keys (never the keys themselves: only their ids, names, roles and last use)",
    request: { query: z.object({ user_id: z.string().max(200).optional() }) },
    responses: { 200: jsonResponse(z.array(ApiKey), "The keys") },
  }),
  createKey: apiRoute(
    {
      method: "post",
      access: "admin",
      path: `${base}/keys`,
      operationId: "keys.create",
      tags,
      summary: "Create an API key: the answer's `key` is shown this once",
      request: { body: jsonBody(CreateKeyRequest) },
      responses: { 201: jsonResponse(CreatedKey, "The key, with the key itself") },
    },
    404,
  ),
  revokeKey: apiRoute(
    {
      method: "delete",
      access: "admin",
      path: `${base}/keys/{key_id}`,
      operationId: "keys.revoke",
      tags,
      summary: "Revoke a key: every server refuses it within a second, and its open streams end",
      request: { params: KeyParam },
      responses: { 200: jsonResponse(ApiKey, "The revoked key") },
    },
    404,
  ),
  audit: apiRoute({
    method: "get",
    access: "admin",
    path: `${base}/audit`,
    operationId: "audit.list",
    tags,
    summary: "The audit trail, newest first: every change with who made it, when, with which key and request",
    request: { query: AuditQuery },
    responses: { 200: pagedResponse(AuditEntry, "Audit entries, newest first") },
  }),
};

export function registerAccessRoutes(app: Api) {
  app.openapi(routes.me, (c) => c.json(describeCaller({ ctx: c.var.ctx }), 200));
  app.openapi(routes.listUsers, async (c) => c.json(await listUsers({ ctx: c.var.ctx }), 200));
  app.openapi(routes.createUser, async (c) => c.json(await createUser({ ctx: c.var.ctx, input: c.req.valid("json") }), 201));
  app.openapi(routes.updateUser, async (c) => c.json(await updateUser({ ctx: c.var.ctx, id: c.req.valid("param").user_id, input: c.req.valid("json") }), 200));
  app.openapi(routes.listKeys, async (c) => c.json(await listKeys({ ctx: c.var.ctx, userId: c.req.valid("query").user_id }), 200));
  app.openapi(routes.createKey, async (c) => c.json(await createKey({ ctx: c.var.ctx, input: c.req.valid("json") }), 201));
  app.openapi(routes.revokeKey, async (c) => c.json(await revokeKey({ ctx: c.var.ctx, id: c.req.valid("param").key_id }), 200));
  app.openapi(routes.audit, async (c) => respondPage(c, await listAudit({ ctx: c.var.ctx, query: c.req.valid("query") })));
}
