/**
 * Who is calling: the bearer token (or, for tRPC GETs, its connection params) as a
 * caller on the request's context. The built-in `CODETETHER_API_KEY` is an admin and
 * `CODETETHER_WORKER_TOKEN` a worker, compared in constant time; `ctk_` keys are the
 * database's (services/access). A server with neither set and no users is open, as
 * before keys existed. What a caller may do is each route's own rule (`requireAccess`).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { type Access, type Caller, refusal } from "../contracts/access.js";
import { withCaller } from "../services/access/keys.js";
import type { ServiceContext } from "../services/context.js";
import type { AppEnv } from "./openapi.js";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** True when `given` is one of `keys`; every key is compared, so timing says nothing about which. */
function keyMatches(given: string, keys: readonly string[]): boolean {
  const d = digest(given);
  let ok = false;
  for (const key of keys) ok = timingSafeEqual(d, digest(key)) || ok;
  return ok;
}

const bearer = (header: string | undefined) => /^Bearer\s+(.+)$/i.exec(header ?? "")?.[1]?.trim();

/**
 * The key a tRPC client sent as connection params (`?connectionParams={"token":"<key>"}`).
 * Browsers need this for subscriptions: their EventSource cannot send an Authorization
 * header. Only GET requests under /trpc/ (queries and subscriptions) qualify, so a key
 * that ends up in a URL (and so in logs) never authorizes a write or a REST call.
 */
function connectionParamsKey(c: Context): string | undefined {
  if (c.req.method !== "GET" || !c.req.path.startsWith("/trpc/")) return undefined;
  const raw = c.req.query("connectionParams");
  if (!raw) return undefined;
  try {
    const params: unknown = JSON.parse(raw);
    const token = params && typeof params === "object" ? (params as Record<string, unknown>).token : undefined;
    return typeof token === "string" && token.length > 0 ? token : undefined;
  } catch {
    return undefined; // not JSON: no key here; tRPC itself answers the malformed params once authenticated
  }
}

const builtin = (role: "admin" | "worker", name: string): Caller => ({
  kind: "builtin",
  role,
  userId: null,
  userName: name,
  keyId: null,
  codebases: null,
  workers: null,
});
const builtinAdmin = builtin("admin", "CODETETHER_API_KEY");
const builtinWorker = builtin("worker", "CODETETHER_WORKER_TOKEN");
const openCaller: Caller = { kind: "open", role: "admin", userId: null, userName: "anonymous", keyId: null, codebases: null, workers: null };

function refuse(c: Context, keyName: string, why?: string) {
  c.header("WWW-Authenticate", 'Bearer realm="codetether"');
  return c.json({ detail: why ? `Not authenticated: ${why}` : `Not authenticated: send Authorization: Bearer <${keyName}>` }, 401);
}

/**
 * Finds the caller and puts it (with the request's context) on `c`, or answers 401.
 * `door` says which built-in secret opens it: the API key opens client routes, and the
 * worker protocol too while no worker token is set; the worker token only the worker protocol.
 */
export function authenticate(ctx: ServiceContext, door: "client" | "worker"): MiddlewareHandler<AppEnv> {
  const { apiKey, workerToken } = ctx.config;
  const secrets: { token: string; caller: Caller }[] = [];
  if (door === "client" && apiKey) secrets.push({ token: apiKey, caller: builtinAdmin });
  if (door === "worker" && workerToken) secrets.push({ token: workerToken, caller: builtinWorker });
  if (door === "worker" && !workerToken && apiKey) secrets.push({ token: apiKey, caller: builtinAdmin });
  const keyName = door === "worker" && workerToken ? "CODETETHER_WORKER_TOKEN" : "CODETETHER_API_KEY";
  const open = secrets.length === 0 && !(door === "worker" && apiKey);
  return async (c, next) => {
    const token = bearer(c.req.header("authorization")) ?? connectionParamsKey(c);
    let caller: Caller | undefined;
    if (token !== undefined) {
      // Every built-in secret is compared, whatever the token looks like: timing says nothing about them.
      const d = digest(token);
      for (const s of secrets) if (timingSafeEqual(d, digest(s.token))) caller ??= s.caller;
      if (!caller) {
        const found = await ctx.access.authenticate(token);
        if (found && "refused" in found) return refuse(c, keyName, found.refused);
        caller = found?.caller;
      }
    } else if (open && !(await ctx.access.anyUsers())) {
      caller = openCaller;
    }
    if (!caller) return refuse(c, keyName);
    c.set("caller", caller);
    c.set("ctx", withCaller({ ctx, caller, requestId: c.var.requestId }));
    return next();
  };
}

/** Answers 403 unless the request's caller has `access` (a route's rule; see contracts/access.ts). */
export function requireAccess(access: Access): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const caller = c.var.caller;
    // Routes registered without `authenticate` (the document's own app) serve nothing.
    const why = caller ? refusal(caller, access) : "Forbidden: no caller";
    if (why) return c.json({ detail: why }, 403);
    return next();
  };
}

/** Rejects requests without one of `keys` (no-op when there are none): for /metrics' own token. */
export function requireBearer(keys: readonly string[], keyName: string): MiddlewareHandler {
  return async (c, next) => {
    const token = bearer(c.req.header("authorization"));
    if (keys.length === 0 || (token !== undefined && keyMatches(token, keys))) return next();
    return refuse(c, keyName);
  };
}
