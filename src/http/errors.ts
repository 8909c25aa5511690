/**
 * How the REST shim answers failures: always `{"detail": "..."}` with a fitting
 * status, never a stack trace. Zod failures are 422, malformed JSON 400.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { asServiceError, errorCodes, formatZodIssues, isDatabaseUnavailable } from "../contracts/errors.js";
import type { ServiceContext } from "../services/context.js";

export function detail(c: Context, status: ContentfulStatusCode, message: string) {
  return c.json({ detail: message }, status);
}

/** The zod-openapi hook: invalid params, query or body become 422 with the issues spelled out. */
export function validationHook(result: { success: boolean; error?: { issues: readonly z.core.$ZodIssue[] } }, c: Context) {
  if (!result.success && result.error) return detail(c, 422, formatZodIssues(result.error.issues));
  return undefined;
}

/** The last line of defence: domain and known infrastructure errors keep their status; anything else is a logged 500. */
export function handleError(err: Error, c: Context) {
  const { ctx, requestId } = c.var as { ctx?: ServiceContext; requestId?: string };
  if (isDatabaseUnavailable(err)) {
    ctx?.database.circuit?.trip();
    ctx?.metrics.databaseErrors.inc();
  }
  const known = asServiceError(err);
  if (known) {
    if (known.retryAfterSeconds !== undefined) c.header("Retry-After", String(known.retryAfterSeconds));
    if (known !== err) ctx?.log.warn({ req_id: requestId, method: c.req.method, path: c.req.path, cause: rootCause(err).message }, known.message);
    return c.json({ detail: known.message, ...known.details }, errorCodes[known.code].http as ContentfulStatusCode);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    if (status === 415) return detail(c, 415, "Content-Type must be application/json");
    return detail(c, status, err.message || "Request failed");
  }
  ctx?.log.error({ req_id: requestId, method: c.req.method, path: c.req.path, err }, "request failed with an unexpected error");
  return detail(c, 500, "Internal server error");
}

/** The innermost cause: drizzle wraps driver errors in a message that spells out the whole query. */
function rootCause(err: Error): Error {
  let e = err;
  while (e.cause instanceof Error) e = e.cause;
  return e;
}
