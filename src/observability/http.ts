/**
 * One log line and one histogram sample per HTTP request, and the request id: taken
 * from the client's `X-Request-Id` when it is a sane token, made up otherwise, and
 * sent back in the answer's `X-Request-Id` so a user's report can be found in the log.
 */
import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";

const saneId = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Routes that machines call many times a minute (probes, scrapes, a worker's polls, lease renewals and the uploads
 * that stream its run, many a second): logged at debug when they succeed, so the info log stays about work (a task
 * created, claimed, completed) and costs no write per streamed event. Patterns, as `routePath` gives them.
 */
const quiet = new Set([
  "/health",
  "/ready",
  "/metrics",
  "/v1/opencode/worker/heartbeat",
  "/v1/opencode/worker/claim",
  "/v1/opencode/worker/claims",
  "/v1/opencode/worker/tasks/:task_id/heartbeat",
  "/v1/opencode/worker/tasks/:task_id/events",
  "/v1/opencode/worker/tasks/:task_id/messages",
]);

export function requestObserver(log: Logger, metrics: Metrics): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const id = given && saneId.test(given) ? given : randomUUID();
    c.set("requestId", id);
    c.header("X-Request-Id", id);
    await next();
    const seconds = (performance.now() - started) / 1000;
    const status = c.res.status;
    // The route's pattern, not the path, so ids do not explode the metric's label values. After
    // `next()` the route index is the last handler that ran (later catch-alls also match, unrun).
    const pattern = routePath(c);
    const route = status === 404 && (pattern === "*" || pattern === "/*") ? "unmatched" : pattern;
    metrics.httpDuration.observe({ method: c.req.method, route, status: String(status) }, seconds);
    const line = { req_id: id, method: c.req.method, route, path: c.req.path, status, ms: Math.round(seconds * 10_000) / 10 };
    if (status >= 500) log.error(line, "request failed");
    else if (quiet.has(route) && status < 400) log.debug(line, "request");
    else log.info(line, "request");
  };
}
