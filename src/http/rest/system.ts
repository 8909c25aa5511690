/** REST shim for health, status and models. */
import { createRoute, z } from "@hono/zod-openapi";
import { ModelList } from "../../contracts/models.js";
import { listModels } from "../../services/models/models.js";
import { getReadiness, getStatus, Readiness, Status } from "../../services/status.js";
import { type Api, apiRoute, ErrorBody, jsonResponse } from "../openapi.js";

const health = createRoute({
  method: "get",
  path: "/health",
  operationId: "health.get",
  tags: ["System"],
  summary: "Liveness: the process answers HTTP (needs no key)",
  security: [],
  responses: { 200: jsonResponse(z.object({ status: z.literal("ok") }).openapi("Health"), "Alive") },
});

const ready = createRoute({
  method: "get",
  path: "/ready",
  operationId: "ready.get",
  tags: ["System"],
  summary: "Readiness for load balancers and orchestrators: the database answers and OpenCode is up (needs no key)",
  security: [],
  responses: {
    200: jsonResponse(Readiness, "Ready to serve"),
    503: jsonResponse(Readiness, "Not ready: says what is down"),
  },
});

const metrics = createRoute({
  method: "get",
  path: "/metrics",
  operationId: "metrics.get",
  tags: ["System"],
  summary: "Prometheus metrics (text exposition format)",
  description:
    "Request durations, open event streams, events stored, runs by outcome and duration, tasks by status, claim wait, " +
    "lease expiries and requeues, workers online, OpenCode's state and restarts, database errors, and Node's process metrics; " +
    "each `codetether_` metric is described in the README. Needs `Authorization: Bearer <CODETETHER_METRICS_TOKEN>` when that " +
    "is set, otherwise the API key when one is set.",
  security: [{ metricsToken: [] }],
  responses: {
    200: {
      description: "The metrics",
      content: {
        "text/plain": {
          schema: z.string().openapi("MetricsText", { example: 'codetether_streams_open 3\ncodetether_runs_total{outcome="completed"} 12' }),
        },
      },
    },
    401: jsonResponse(ErrorBody, "Missing or wrong token"),
  },
});

const status = apiRoute({
  method: "get",
  access: "read",
  path: "/v1/opencode/status",
  operationId: "status.get",
  tags: ["System"],
  summary: "Whether the OpenCode CLI is available, which binary and version, and how many codebases are registered",
  responses: { 200: jsonResponse(Status, "Bridge status") },
});

const models = apiRoute({
  method: "get",
  access: "read",
  path: "/v1/opencode/models",
  operationId: "models.list",
  tags: ["Models"],
  summary: "The models that can run now (the server's OpenCode and online workers), with where and at what cost",
  description:
    "Lists what OpenCode can run right now on the server (its configured, credentialed providers) and on each online worker, " +
    "with capabilities and cost per million tokens as OpenCode reports them. The product page's ten models are always listed, " +
    "`available: false` when nothing can run them. `default` and `recommended` are models that can run, or null with a `message` " +
    "saying how to connect a provider.",
  responses: { 200: jsonResponse(ModelList, "Models") },
});

/** Registers /health, /ready, /metrics, status and models. */
export function registerSystemRoutes(app: Api) {
  app.openapi(health, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(ready, async (c) => {
    const readiness = await getReadiness({ ctx: c.var.ctx });
    return readiness.status === "ready" ? c.json(readiness, 200) : c.json(readiness, 503);
  });
  app.openapi(metrics, async (c) => {
    const { contentType, body } = await c.var.ctx.metrics.render();
    return c.body(body, 200, { "content-type": contentType }) as never;
  });
  app.openapi(status, async (c) => c.json(await getStatus({ ctx: c.var.ctx }), 200));
  app.openapi(models, async (c) => c.json(await listModels({ ctx: c.var.ctx }), 200));
}
