/**
 * The Hono application: health, the REST shim under /v1/opencode, its OpenAPI
 * document and docs, tRPC under /trpc, all over one service context. Transports
 * stay thin; verbs live in services/.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { TRPCError } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { MiddlewareHandler } from "hono/types";
import { databaseUnavailableMessage, isDatabaseUnavailable } from "../contracts/errors.js";
import { requestObserver } from "../observability/http.js";
import type { ServiceContext } from "../services/context.js";
import { createContextInner } from "../trpc/init.js";
import { appRouter } from "../trpc/router.js";
import { registerApi } from "./api.js";
import { authenticate, requireAccess, requireBearer } from "./auth.js";
import { compressDashboard, isApiPath, registerDashboard } from "./dashboard.js";
import { registerDocsRoutes } from "./docs.js";
import { detail, handleError, validationHook } from "./errors.js";
import { registerMcpRoute } from "./mcp.js";
import type { Api, AppEnv } from "./openapi.js";

/** The most calls one tRPC batch request may carry (the SDK never sends more). */
const trpcMaxBatchSize = 20;

/**
 * Authentication for /trpc: a key lookup that fails because the database is down goes on to the tRPC handler
 * without a caller, which answers SERVICE_UNAVAILABLE as tRPC clients read errors, rather than as REST's
 * `{detail}`, which a tRPC client cannot read a code from.
 */
function trpcAuth(ctx: ServiceContext, auth: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let passed = false;
    try {
      return await auth(c, () => {
        passed = true;
        return next();
      });
    } catch (err) {
      if (passed || !isDatabaseUnavailable(err)) throw err;
      ctx.database.circuit?.trip();
      return next();
    }
  };
}

/**
 * Refuses a request body over `maxSize` bytes with 413. A body of a declared length is judged by its header alone:
 * Hono's own limit looks at the request's body stream first, which makes the Node adapter build a full web Request
 * and read every body through a web stream, even a GET's (about a tenth of a queue call's CPU here); Node's parser
 * never reads past a declared length. A chunked body is counted as it streams in, by Hono's limit.
 */
function limitBody(maxSize: number): MiddlewareHandler<AppEnv> {
  const tooLarge = (c: Context) => detail(c, 413, `Request body is larger than ${maxSize} bytes`);
  const streamed = bodyLimit({ maxSize, onError: tooLarge });
  return (c, next) => {
    const declared = c.req.header("content-length");
    if (declared !== undefined && c.req.header("transfer-encoding") === undefined) return Number(declared) > maxSize ? Promise.resolve(tooLarge(c)) : next();
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    return streamed(c, next);
  };
}

/** The whole server's HTTP app over `ctx`. Only /v1 and /trpc need a key; /health, /openapi.json and /docs stay open. */
export function createApp(ctx: ServiceContext): Api {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.onError(handleError);
  app.notFound((c) => detail(c, 404, `No route for ${c.req.method} ${c.req.path}`));
  // First, so every answer (errors and refusals too) is logged, timed and carries its request id.
  app.use(requestObserver(ctx.log, ctx.metrics));

  // Route handlers take the context from here, so the routes themselves can be defined (and documented) without one.
  app.use(async (c, next) => {
    c.set("ctx", ctx);
    await next();
  });
  const auth = authenticate(ctx, "client");
  // Workers have a token of their own; without one they use the API key (or a key of their own, role worker).
  const workerAuth = authenticate(ctx, "worker");
  const limit = limitBody(ctx.config.maxBodyBytes);
  // CORS first: a browser's preflight carries no key, and must be answered before auth asks for one.
  if (ctx.config.corsOrigins.length > 0) {
    const allow = cors({
      origin: ctx.config.corsOrigins.includes("*") ? "*" : ctx.config.corsOrigins,
      allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
      allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID", "trpc-accept", "x-trpc-source"],
      exposeHeaders: ["Retry-After", "X-Next-Cursor", "Link", "X-Request-Id"],
      maxAge: 600,
    });
    app.use("/v1/*", allow);
    app.use("/trpc/*", allow);
  }
  // A worker's diff report carries a patch of up to CODETETHER_DIFF_MAX_BYTES, base64 (4/3 larger), and its file list.
  const reportBytes = Math.max(ctx.config.maxBodyBytes, Math.ceil((ctx.config.worktrees.diffMaxBytes * 4) / 3) + 8 * 1024 * 1024);
  const reportLimit = limitBody(reportBytes);
  // While the database is known to be down, answer at once rather than queue on a pool that cannot connect
  // (before auth, which may need the database to know a user's key).
  const circuit = ctx.database.circuit;
  if (circuit) {
    app.use("/v1/*", async (c, next) => {
      if (!circuit.isOpen()) return next();
      c.header("Retry-After", String(circuit.retryAfterSeconds()));
      return detail(c, 503, databaseUnavailableMessage);
    });
  }
  app.use(
    "/v1/*",
    (c, next) => (c.req.path.startsWith("/v1/opencode/worker/") ? workerAuth(c, next) : auth(c, next)),
    (c, next) => (/^\/v1\/opencode\/worker\/tasks\/[^/]+\/worktree$/.test(c.req.path) ? reportLimit(c, next) : limit(c, next)),
  );
  app.use("/trpc/*", trpcAuth(ctx, auth), limit);
  app.use("/mcp", auth, limit);
  // Scrapers may get a token of their own, so they need not hold the key that runs agents.
  app.use("/metrics", ...(ctx.config.metricsToken ? [requireBearer([ctx.config.metricsToken], "CODETETHER_METRICS_TOKEN")] : [auth, requireAccess("read")]));

  app.use("*", (c, next) => (c.req.method === "GET" && !isApiPath(c.req.path) ? compressDashboard(c, next) : next()));
  registerApi(app);
  registerDocsRoutes(app);
  registerMcpRoute(app);

  app.all("/trpc/*", (c) =>
    fetchRequestHandler({
      endpoint: "/trpc",
      req: c.req.raw,
      router: appRouter,
      // One request may not fan out into unbounded work (and an unbounded answer): larger batches get a 400.
      maxBatchSize: trpcMaxBatchSize,
      createContext: () => {
        // No caller: the database could not say who is calling (see trpcAuth); answered in tRPC's own error shape.
        if (!c.var.caller) throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: databaseUnavailableMessage });
        return createContextInner(c.var.ctx);
      },
      onError: ({ error, path }) => {
        if (error.code === "INTERNAL_SERVER_ERROR") ctx.log.error({ err: error.cause ?? error, trpc: path }, "tRPC call failed");
      },
    }),
  );
  registerDashboard(app);
  return app;
}
