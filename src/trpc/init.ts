/**
 * The one initTRPC. Who is calling is found at the HTTP edge (the same check as REST)
 * and rides on the service context; each procedure says what it needs (`readProcedure`,
 * `writeProcedure`, `adminProcedure`). In-process callers without a caller are the server itself.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { type Access, refusal, systemCaller } from "../contracts/access.js";
import { asServiceError, databaseUnavailableMessage, errorCodes, formatZodIssues, isDatabaseUnavailable, ServiceError } from "../contracts/errors.js";
import type { ServiceContext } from "../services/context.js";

declare const opaque: unique symbol;
/**
 * The service context as the root context type shows it: opaque on purpose. `AppRouter`
 * carries the root context type, and the SDK publishes `AppRouter`'s declarations, which
 * must not reach the database, drizzle or hono. Resolvers see the real `ServiceContext`
 * through `withServices`, the last middleware of every `procedure()`; only `createContextInner` makes one.
 */
export type OpaqueServices = { readonly [opaque]: "ServiceContext" };

export interface TrpcContext {
  services: OpaqueServices;
}

/** The inner context, for tests and in-process callers. */
export const createContextInner = (services: ServiceContext): TrpcContext => ({ services: services as unknown as OpaqueServices });

/** Each procedure's rule: what its caller's role must allow (see contracts/access.ts). */
export interface ProcedureMeta {
  access: Access;
}

const t = initTRPC
  .context<TrpcContext>()
  .meta<ProcedureMeta>()
  .create({
    transformer: superjson,
    // Never send stack traces to clients, whatever NODE_ENV says: they describe the server's insides.
    isDev: false,
    // Keep-alive pings well inside the client's inactivity timeout, so idle streams are not torn down.
    sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
    errorFormatter({ shape, error }) {
      const zod = error.cause instanceof ZodError ? error.cause : null;
      return {
        ...shape,
        message: zod ? formatZodIssues(zod.issues) : shape.message,
        data: { ...shape.data, zodIssues: zod ? zod.issues : null, details: error.cause instanceof ServiceError ? (error.cause.details ?? null) : null },
      };
    },
  });

/** Narrows the opaque root context back to the `ServiceContext` that `createContextInner` put there. */
const withServices = t.middleware(({ ctx, next }) => {
  const services = ctx.services as unknown as ServiceContext;
  // While the database is known to be down, fail at once (see DatabaseCircuit).
  if (services.database.circuit?.isOpen()) {
    throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: databaseUnavailableMessage });
  }
  return next({ ctx: { services } });
});

/** A domain (or known infrastructure) error as a typed tRPC error, the original as `cause`; others unchanged. */
export function toTrpcError(err: unknown): unknown {
  const known = asServiceError(err instanceof TRPCError && err.cause ? err.cause : err);
  return known ? new TRPCError({ code: errorCodes[known.code].trpc, message: known.message, cause: known }) : err;
}

/**
 * Turns domain errors into typed tRPC errors. A subscription's generator fails
 * after this middleware has returned, so subscriptions map their own errors with
 * `toTrpcError`.
 */
const mapServiceErrors = t.middleware(async ({ ctx, next }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause ?? result.error;
    if (isDatabaseUnavailable(cause)) (ctx.services as unknown as ServiceContext).database.circuit?.trip();
    const mapped = toTrpcError(result.error);
    if (mapped !== result.error) throw mapped;
  }
  return result;
});

/** Refuses (FORBIDDEN, naming the role needed) a caller whose role does not allow the procedure's access. */
const checkAccess = t.middleware(({ ctx, meta, next }) => {
  const services = ctx.services as unknown as ServiceContext;
  const why = meta ? refusal(services.caller ?? systemCaller, meta.access) : "Forbidden: this procedure has no rule";
  if (why) throw new TRPCError({ code: "FORBIDDEN", message: why });
  return next();
});

export const router = t.router;
const procedure = (access: Access) => t.procedure.meta({ access }).use(mapServiceErrors).use(checkAccess).use(withServices);
/** Lists, gets, reports and streams: any role but worker. */
export const readProcedure = procedure("read");
/** Changes: member and admin. */
export const writeProcedure = procedure("write");
/** Users, keys and the audit log: admin only. */
export const adminProcedure = procedure("admin");
