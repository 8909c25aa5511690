/** REST shim for codebases: validate, call the verb, answer. */
import { z } from "@hono/zod-openapi";
import { createCodebase, deleteCodebase, getCodebase, listCodebases, updateCodebase } from "../../services/codebases/codebases.js";
import { Codebase, CreateCodebaseRequest, UpdateCodebaseRequest } from "../../services/codebases/codebases.types.js";
import { PageQuery } from "../../services/paging.js";
import { type Api, apiRoute, IdParam, jsonBody, jsonResponse, pagedResponse, respondPage } from "../openapi.js";

const tags = ["Codebases"];
const base = "/v1/opencode/codebases";

const list = apiRoute({
  method: "get",
  access: "read",
  path: base,
  operationId: "codebases.list",
  tags,
  summary: "List registered codebases, oldest first",
  request: { query: PageQuery },
  responses: { 200: pagedResponse(Codebase, "Codebases, oldest first") },
});

const create = apiRoute(
  {
    method: "post",
    access: "write",
    path: base,
    operationId: "codebases.create",
    tags,
    summary: "Register a codebase (its path must be an existing directory on this server)",
    request: { body: jsonBody(CreateCodebaseRequest) },
    responses: { 201: jsonResponse(Codebase, "The registered codebase") },
  },
  409,
);

const get = apiRoute(
  {
    method: "get",
    access: "read",
    path: `${base}/{id}`,
    operationId: "codebases.get",
    tags,
    summary: "Get one codebase",
    request: { params: IdParam },
    responses: { 200: jsonResponse(Codebase, "The codebase") },
  },
  404,
);

const update = apiRoute(
  {
    method: "patch",
    access: "write",
    path: `${base}/{id}`,
    operationId: "codebases.update",
    tags,
    summary: "Change a codebase (fields not sent stay as they are; agent_config is replaced whole)",
    request: { params: IdParam, body: jsonBody(UpdateCodebaseRequest) },
    responses: { 200: jsonResponse(Codebase, "The updated codebase") },
  },
  404,
  409,
);

const remove = apiRoute(
  {
    method: "delete",
    access: "write",
    path: `${base}/{id}`,
    operationId: "codebases.delete",
    tags,
    summary: "Delete a codebase with its sessions, tasks and events",
    request: { params: IdParam },
    responses: {
      200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }).openapi("CodebaseDeleted"), "Deleted"),
    },
  },
  404,
);

/** Registers the codebase routes. */
export function registerCodebaseRoutes(app: Api) {
  app.openapi(list, async (c) => respondPage(c, await listCodebases({ ctx: c.var.ctx, query: c.req.valid("query") })));
  app.openapi(create, async (c) => c.json(await createCodebase({ ctx: c.var.ctx, input: c.req.valid("json") }), 201));
  app.openapi(get, async (c) => c.json(await getCodebase({ ctx: c.var.ctx, id: c.req.valid("param").id }), 200));
  app.openapi(update, async (c) => c.json(await updateCodebase({ ctx: c.var.ctx, id: c.req.valid("param").id, input: c.req.valid("json") }), 200));
  app.openapi(remove, async (c) => c.json(await deleteCodebase({ ctx: c.var.ctx, id: c.req.valid("param").id }), 200));
}
