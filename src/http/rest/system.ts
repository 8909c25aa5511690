/** REST shim for status and models. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { ServiceContext } from "../../services/context.js";
import { listModels } from "../../services/models.js";
import { getStatus, Status } from "../../services/status.js";
import { errorResponses, jsonResponse } from "../openapi.js";

const ModelInfo = z
  .object({
    id: z.string(),
    provider: z.string(),
    name: z.string(),
    description: z.string(),
    recommended: z.boolean(),
  })
  .openapi("Model");

const ModelList = z
  .object({
    models: z.array(ModelInfo),
    providers: z.record(z.string(), z.array(z.string())),
    recommended: z.string(),
    default: z.string(),
  })
  .openapi("ModelList");

const status = createRoute({
  method: "get",
  path: "/v1/opencode/status",
  operationId: "status.get",
  tags: ["Status"],
  summary: "Whether the OpenCode CLI is available, which binary and version, and how many codebases are registered",
  responses: { 200: jsonResponse(Status, "Bridge status"), ...errorResponses() },
});

const models = createRoute({
  method: "get",
  path: "/v1/opencode/models",
  operationId: "models.list",
  tags: ["Models"],
  summary: "The model catalogue, grouped by provider, with the recommended model marked",
  responses: { 200: jsonResponse(ModelList, "Models"), ...errorResponses() },
});

export function registerSystemRoutes(app: OpenAPIHono, ctx: ServiceContext) {
  app.openapi(status, async (c) => c.json(await getStatus({ ctx }), 200));
  app.openapi(models, (c) => c.json(listModels(), 200));
}
