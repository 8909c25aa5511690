/**
 * What a call throws: always a TRPCClientError (`err.data?.code`, e.g. "NOT_FOUND"). A key the server refuses at its
 * HTTP edge, before tRPC (401 with `{detail}`), arrives as one whose `cause` is a RefusedKeyError.
 */
import { isTRPCClientError } from "@trpc/client";

export class RefusedKeyError extends Error {
  readonly status = 401;
  constructor(readonly detail: string) {
    super(`401: ${detail}`);
    this.name = "RefusedKeyError";
  }
}

/** Whether the server wants a key: none was given, or it refused the one given (at its edge, or inside tRPC). */
export function isUnauthorized(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof RefusedKeyError) return true;
    if (isTRPCClientError(e) && e.data?.code === "UNAUTHORIZED") return true;
    // A stream the edge refused: the `eventsource` package's error carries the HTTP status as `code`.
    if (typeof e === "object" && (e as { code?: unknown }).code === 401) return true;
  }
  return false;
}
