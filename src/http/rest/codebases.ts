/** REST shim for codebases: validate, call the verb, answer. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  createCodebase,
  deleteCodebase,
  getCodebase,
  listCodebases,
  updateCodebase,
} from "../../services/codebases.js";
import { Codebase, CreateCodebaseRequest, UpdateCodebaseRequest } from "../../services/codebases.types.js";
import type { ServiceContext } from "../../services/context.js";
import { errorResponses, IdParam, jsonBody, jsonResponse } from "../openapi.js";

const tags = ["Codebases"];
const base = "/v1/opencode/codebases";

const list = createRoute({
  method: "get",
  path: base,
  operationId: "codebases.list",
  tags,
  summary: "List registered codebases",
  responses: { 200: jsonResponse(z.array(Codebase), "All codebases, oldest first"), ...errorResponses() },
});

const create = createRoute({
  method: "post",
  path: base,
  operationId: "codebases.create",
  tags,
  summary: "Register a codebase",
  request: { body: jsonBody(CreateCodebaseRequest) },
  responses: {
    201: jsonResponse(Codebase, "The registered codebase"),
    ...errorResponses(400, 409, 413, 415, 422),
  },
});

const get = createRoute({
  method: "get",
  path: `${base}/{id}`,
  operationId: "codebases.get",
  tags,
  summary: "Get one codebase",
  request: { params: IdParam },
  responses: { 200: jsonResponse(Codebase, "The codebase"), ...errorResponses(404) },
});

const update = createRoute({
  method: "patch",
  path: `${base}/{id}`,
  operationId: "codebases.update",
  tags,
  summary: "Change a codebase (fields not sent stay as they are; agent_config is replaced whole)",
  request: { params: IdParam, body: jsonBody(UpdateCodebaseRequest) },
  responses: {
    200: jsonResponse(Codebase, "The updated codebase"),
    ...errorResponses(400, 404, 409, 413, 415, 422),
  },
});

const remove = createRoute({
  method: "delete",
  path: `${base}/{id}`,
  operationId: "codebases.delete",
  tags,
  summary: "Delete a codebase with its sessions, tasks and events",
  request: { params: IdParam },
  responses: {
    200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted"),
    ...errorResponses(404),
  },
});

export function registerCodebaseRoutes(app: OpenAPIHono, ctx: ServiceContext) {
  app.openapi(list, async (c) => c.json(await listCodebases({ ctx }), 200));
  app.openapi(create, async (c) => c.json(await createCodebase({ ctx, input: c.req.valid("json") }), 201));
  app.openapi(get, async (c) => c.json(await getCodebase({ ctx, id: c.req.valid("param").id }), 200));
  app.openapi(update, async (c) =>
    c.json(await updateCodebase({ ctx, id: c.req.valid("param").id, input: c.req.valid("json") }), 200),
  );
  app.openapi(remove, async (c) => c.json(await deleteCodebase({ ctx, id: c.req.valid("param").id }), 200));
}
