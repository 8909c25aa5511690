/** Bearer-token checks, compared in constant time so response timing leaks nothing about the key. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** True when `given` is one of `keys`; every key is compared, so timing says nothing about which. */
function keyMatches(given: string, keys: readonly string[]): boolean {
  const d = digest(given);
  let ok = false;
  for (const key of keys) ok = timingSafeEqual(d, digest(key)) || ok;
  return ok;
}

/** True when `header` is `Bearer <one of keys>`. */
function bearerMatches(header: string | undefined, keys: readonly string[]): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? "");
  return match ? keyMatches(match[1]!.trim(), keys) : false;
}

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

/** Rejects requests without one of `keys` (no-op when there are none), as a bearer header or tRPC connection params. */
export function requireBearer(keys: readonly string[], keyName: string): MiddlewareHandler {
  return async (c, next) => {
    if (keys.length === 0 || bearerMatches(c.req.header("authorization"), keys)) return next();
    const fromParams = connectionParamsKey(c);
    if (fromParams !== undefined && keyMatches(fromParams, keys)) return next();
    c.header("WWW-Authenticate", 'Bearer realm="codetether"');
    return c.json({ detail: `Not authenticated: send Authorization: Bearer <${keyName}>` }, 401);
  };
}
