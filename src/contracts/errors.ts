/**
 * The one place that says how a domain failure looks on every transport:
 * REST maps `code` to an HTTP status with `{"detail": message}`, tRPC to a TRPCError code.
 */
import type { z } from "zod";

export const errorCodes = {
  BAD_REQUEST: { http: 400, trpc: "BAD_REQUEST" },
  UNAUTHORIZED: { http: 401, trpc: "UNAUTHORIZED" },
  FORBIDDEN: { http: 403, trpc: "FORBIDDEN" },
  NOT_FOUND: { http: 404, trpc: "NOT_FOUND" },
  CONFLICT: { http: 409, trpc: "CONFLICT" },
  /** A runner's lease on a task is no longer current: stop working on it (a 409 whose body says `code: "lease_lost"`). */
  LEASE_LOST: { http: 409, trpc: "CONFLICT" },
  PAYLOAD_TOO_LARGE: { http: 413, trpc: "PAYLOAD_TOO_LARGE" },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, trpc: "UNSUPPORTED_MEDIA_TYPE" },
  UNPROCESSABLE: { http: 422, trpc: "UNPROCESSABLE_CONTENT" },
  UNAVAILABLE: { http: 503, trpc: "SERVICE_UNAVAILABLE" },
} as const;

export type ServiceErrorCode = keyof typeof errorCodes;

/** A failure the caller can act on; its message is safe to show. */
export class ServiceError extends Error {
  /** For a 503: when the client may try again (sent as `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;
  /** Facts a client can act on beside the message (the conflicting files of an apply), sent with it on every transport. */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "ServiceError";
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.details = options?.details;
  }
}

export const notFound = (what: string) => new ServiceError("NOT_FOUND", `${what} not found`);
export const invalid = (message: string) => new ServiceError("UNPROCESSABLE", message);
export const conflict = (message: string) => new ServiceError("CONFLICT", message);
/** The runner's lease is gone (the task was reassigned or finished): its reports are refused. */
export const leaseLost = () =>
  new ServiceError("LEASE_LOST", "lease lost: this task was reassigned or finished; stop working on it", { details: { code: "lease_lost" } });

/** Postgres unique violation, from either driver. */
export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === "23505") return true;
  }
  return false;
}

/** Network failures and the driver's own connection errors (postgres.js names them). */
const unreachableCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/**
 * True when `err` (or what caused it) says the database cannot be reached right now:
 * a refused or broken connection, or Postgres itself saying it is going away or not
 * accepting connections (SQLSTATE class 08, 57P01-57P03). Such a failure is the
 * caller's to retry (503), not a bug (500).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    if (unreachableCodes.has(code) || code.startsWith("08") || /^57P0[123]$/.test(code)) return true;
  }
  return false;
}

/** SQLSTATEs that mean the input holds a value the database cannot take (NUL bytes, out-of-range numbers, ...). */
const unstorableCodes = new Set(["22021", "22P05", "22003", "22001", "54000"]);

function sqlState(err: unknown, states: ReadonlySet<string>): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && states.has(code)) return true;
  }
  return false;
}

/** What every door answers while the database cannot be reached (a 503, or tRPC's SERVICE_UNAVAILABLE). */
export const databaseUnavailableMessage = "The database is unavailable right now; try again shortly";

/**
 * The domain error behind an infrastructure failure, for both transports to answer
 * alike: an unreachable database is a 503 to retry, a value the database cannot
 * store is the caller's 422. Anything else stays unexpected (undefined: a 500).
 */
export function asServiceError(err: unknown): ServiceError | undefined {
  if (err instanceof ServiceError) return err;
  if (isDatabaseUnavailable(err)) {
    return new ServiceError("UNAVAILABLE", databaseUnavailableMessage, { cause: err });
  }
  if (sqlState(err, unstorableCodes)) {
    return new ServiceError("UNPROCESSABLE", "A value cannot be stored: text must not contain NUL bytes or unpaired surrogates, and numbers must fit", {
      cause: err,
    });
  }
  return undefined;
}

/** One readable line from zod issues: `path.to.field: message; ...`. */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const where = i.path.map(String).join(".");
      const message = i.code === "unrecognized_keys" ? `unknown field(s) ${i.keys.join(", ")}` : i.message;
      return where ? `${where}: ${message}` : message;
    })
    .join("; ");
}
