/** Shared pieces of the OpenAPI route definitions. */
import { z } from "@hono/zod-openapi";

export const ErrorBody = z
  .object({ detail: z.string().openapi({ example: "Codebase not found" }) })
  .openapi("Error");

const descriptions = {
  400: "Malformed request (for example a body that is not JSON)",
  401: "Missing or wrong bearer token",
  404: "Not found",
  409: "Conflicts with the current state",
  413: "Request body over the size limit",
  415: "Body is not application/json",
  422: "Invalid field values",
  503: "A dependency is unavailable",
} as const;

type ErrorStatus = keyof typeof descriptions;

/** The `responses` entries for the given error statuses, all with the `{detail}` body. */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]) {
  const all: S[] = [...new Set<S>([...statuses, 401 as S])];
  return Object.fromEntries(
    all.map((s) => [s, { description: descriptions[s], content: { "application/json": { schema: ErrorBody } } }]),
  ) as unknown as { [K in S]: { description: string; content: { "application/json": { schema: typeof ErrorBody } } } };
}

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { content: { "application/json": { schema } }, required: true, ...(description ? { description } : {}) };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

export const IdParam = z.object({
  id: z.string().min(1).max(200).openapi({ param: { name: "id", in: "path" }, example: "0b9d7f5e-…" }),
});
