/** REST shim for the usage report. */
import { usageReport } from "../../services/usage/usage.js";
import { UsageQuery, UsageReport } from "../../services/usage/usage.types.js";
import { type Api, apiRoute, jsonResponse } from "../openapi.js";

const report = apiRoute(
  {
    method: "get",
    access: "read",
    path: "/v1/opencode/usage",
    operationId: "usage.report",
    tags: ["Usage"],
    summary: "Tokens and cost over a time range, grouped by codebase, model, worker, agent and/or day",
    description:
      "Sums of the `usage` events of every run (triggers, the server's task runner and workers), kept up to date as the events " +
      "are stored and counted per hour, so the range is taken in whole hours (UTC) and the answer never scans the event log. " +
      "Sessions, tasks and codebases carry their own all-time totals as `usage`.",
    request: { query: UsageQuery },
    responses: { 200: jsonResponse(UsageReport, "The report") },
  },
  400,
);

export function registerUsageRoutes(app: Api) {
  app.openapi(report, async (c) => c.json(await usageReport({ ctx: c.var.ctx, query: c.req.valid("query") }), 200));
}
