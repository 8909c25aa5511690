/** REST shim for health, status and models. */
import { createRoute, z } from "@hono/zod-openapi";
import { listModels } from "../../services/models.js";
import { getStatus, Status } from "../../services/status.js";
import { type Api, apiRoute, jsonResponse } from "../openapi.js";

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

const health = createRoute({
  method: "get",
  path: "/health",
  operationId: "health.get",
  tags: ["System"],
  summary: "Liveness: the process answers HTTP (needs no key)",
  security: [],
  responses: { 200: jsonResponse(z.object({ status: z.literal("ok") }).openapi("Health"), "Alive") },
});

const status = apiRoute({
  method: "get",
  path: "/v1/opencode/status",
  operationId: "status.get",
  tags: ["System"],
  summary: "Whether the OpenCode CLI is available, which binary and version, and how many codebases are registered",
  responses: { 200: jsonResponse(Status, "Bridge status") },
});

const models = apiRoute({
  method: "get",
  path: "/v1/opencode/models",
  operationId: "models.list",
  tags: ["Models"],
  summary: "The model catalogue, grouped by provider, with the recommended model marked",
  responses: { 200: jsonResponse(ModelList, "Models") },
});

/** Registers /health, status and models. */
export function registerSystemRoutes(app: Api) {
  app.openapi(health, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(status, async (c) => c.json(await getStatus({ ctx: c.var.ctx }), 200));
  app.openapi(models, (c) => c.json(listModels(), 200));
}
