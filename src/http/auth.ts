/** Bearer-token checks, compared in constant time so response timing leaks nothing about the key. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** True when `header` is `Bearer <one of keys>`. */
export function bearerMatches(header: string | undefined, keys: readonly string[]): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!match) return false;
  const given = digest(match[1]!.trim());
  let ok = false;
  for (const key of keys) ok = timingSafeEqual(given, digest(key)) || ok;
  return ok;
}

/** Rejects requests without one of `keys` (no-op when there are none). */
export function requireBearer(keys: readonly string[], keyName: string): MiddlewareHandler {
  return async (c, next) => {
    if (keys.length === 0 || bearerMatches(c.req.header("authorization"), keys)) return next();
    c.header("WWW-Authenticate", 'Bearer realm="codetether"');
    return c.json({ detail: `Not authenticated: send Authorization: Bearer <${keyName}>` }, 401);
  };
}
