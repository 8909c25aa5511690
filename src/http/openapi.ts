/**
 * Shared pieces of the OpenAPI route definitions. Routes are defined without a
 * service context (handlers read it from `c.var.ctx`), so the document can be
 * generated with no database and no OpenCode.
 */
import { createRoute, type OpenAPIHono, type RouteConfig, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Access, Caller } from "../contracts/access.js";
import { Id } from "../contracts/fields.js";
import type { ServiceContext } from "../services/context.js";
import type { Page } from "../services/paging.js";
import { requireAccess } from "./auth.js";

/** What every handler finds on its Hono context: `createApp` sets `ctx` before any route runs. */
export interface AppEnv {
  /** `caller` and a `ctx` that carries it are set by `authenticate` for every route that needs a key. */
  Variables: { ctx: ServiceContext; requestId: string; caller: Caller };
}

/** An app the API routes can be registered on. */
export type Api = OpenAPIHono<AppEnv>;

export const ErrorBody = z
  .object({
    detail: z.string().openapi({ example: "Codebase not found" }),
    code: z
      .string()
      .optional()
      .openapi({ description: "A reason a program acts on, where there is one: `lease_lost` on a 409 to a runner whose lease is not current" }),
  })
  .openapi("Error", { description: "Every failure answers this body with a fitting status; never a stack trace" });

const descriptions = {
  400: "Malformed request (for example a body that is not JSON, or a bad Last-Event-ID)",
  401: "Missing or wrong bearer token, or a key that was revoked or has expired",
  403: "The key's role does not allow this (`detail` names the role it needs)",
  404: "Not found",
  409: "Conflicts with the current state",
  413: "Request body over the size limit (CODETETHER_MAX_BODY_BYTES)",
  415: "Body is not application/json",
  422: "Invalid field values; `detail` names each field and what is wrong with it",
  500: "Unexpected failure; the server logs the cause",
  503: "The database or OpenCode cannot be reached right now; retry shortly",
} as const;

/** The error statuses a route can name itself; the rest follow from its shape (see `apiRoute`). */
export type DomainErrorStatus = 400 | 404 | 409 | 422 | 503;
type ErrorStatus = keyof typeof descriptions;

/** The `responses` entries for the given error statuses, all with the `{detail}` body. */
function errorResponses(statuses: Iterable<ErrorStatus>) {
  return Object.fromEntries([...new Set(statuses)].map((s) => [s, { description: descriptions[s], content: { "application/json": { schema: ErrorBody } } }]));
}

/**
 * The errors any /v1 route of this shape can answer, whatever its verb does:
 * auth (401), the unexpected (500), an unreachable database (503), validation of params, query or body (422,
 * see `validationHook`), and for a JSON body also malformed JSON (400), a wrong
 * Content-Type (415) and the body limit (413).
 */
function transportErrors(route: RouteConfig): ErrorStatus[] {
  const statuses: ErrorStatus[] = [401, 403, 500, 503];
  const request = route.request ?? {};
  if (request.params || request.query) statuses.push(422);
  if (request.body) statuses.push(400, 413, 415, 422);
  return statuses;
}

/**
 * Defines a /v1 route: `createRoute` plus the `{detail}` error responses its
 * shape implies and the ones its verb can raise (`errors`: 404, 409, 503, ...),
 * so the document lists every status the route really answers.
 */
export function apiRoute<R extends RouteConfig>(route: R & { access: Access }, ...errors: DomainErrorStatus[]): R {
  const { access, ...config } = route;
  const responses = { ...config.responses, ...errorResponses([...transportErrors(config), ...errors]) };
  const needs = `Needs the ${leastRoleFor[access]} role${access === "worker" ? " (or admin)" : " or higher"}.`;
  // Typed as the route given: handlers only return its success responses; errors are thrown.
  return createRoute({
    ...config,
    description: config.description ? `${config.description}\n\n${needs}` : needs,
    responses,
    // The route's rule, checked before its input: every route has one, or it does not type-check.
    middleware: [requireAccess(access)],
    "x-codetether-access": access,
  }) as unknown as R;
}

const leastRoleFor: Record<Access, string> = { read: "viewer", write: "member", admin: "admin", worker: "worker" };

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { content: { "application/json": { schema } }, required: true, ...(description ? { description } : {}) };
}

/** A JSON response with this schema. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A path parameter naming a record (1-200 characters). */
export const pathId = (name: string, example?: string) => Id.openapi({ param: { name, in: "path" }, ...(example ? { example } : {}) });

/** `{id}`: the codebase the route is about. */
export const IdParam = z.object({ id: pathId("id", "0b9d7f5e-3c1a-4d2b-9f6e-2a8c4e1b7d90") });
/** `{task_id}` in a path: the task routes of clients and of the worker protocol. */
export const TaskParam = z.object({ task_id: pathId("task_id") });

/**
 * A list's answer: the plain array of one page (as the product page shows lists),
 * with the cursor of the next page in `X-Next-Cursor` and a `Link: <…>; rel="next"`.
 */
export function pagedResponse<T extends z.ZodType>(item: T, description: string) {
  return {
    description: `${description}: one page (see \`limit\`); when more follow, the \`X-Next-Cursor\` and \`Link\` headers say how to ask for them`,
    headers: {
      "X-Next-Cursor": { description: "Pass as `cursor` to get the next page; absent on the last page", schema: { type: "string" as const } },
      Link: { description: 'The next page\'s URL, as `<url>; rel="next"`; absent on the last page', schema: { type: "string" as const } },
    },
    content: { "application/json": { schema: z.array(item) } },
  };
}

/** Answers a page as `pagedResponse` describes it. */
export function respondPage<T>(c: Context, page: Page<T>) {
  if (page.next_cursor) {
    const next = new URL(c.req.url);
    next.searchParams.set("cursor", page.next_cursor);
    c.header("X-Next-Cursor", page.next_cursor);
    c.header("Link", `<${next.pathname}${next.search}>; rel="next"`);
  }
  return c.json(page.items, 200);
}
