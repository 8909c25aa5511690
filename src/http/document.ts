/**
 * The OpenAPI document's own facts (title, tags, security) and how it is built
 * from an app's route definitions, in a stable order, so the committed
 * `openapi/openapi.json` only changes when the API does.
 */
import { packageVersion } from "../package-root.js";
import type { Api } from "./openapi.js";

/** An OpenAPI 3.1 document, as @hono/zod-openapi builds it. */
export type OpenApiDocument = ReturnType<Api["getOpenAPI31Document"]>;

const version = packageVersion;

/** The bearer schemes; routes name them in `security` (the default is `apiKey`). */
export const securitySchemes = {
  apiKey: {
    type: "http",
    scheme: "bearer",
    description:
      "The server's API key, CODETETHER_API_KEY, as `Authorization: Bearer <key>`. " +
      "Needed by every /v1 route except the worker protocol when the server has a key; without one the API is open.",
  },
  workerToken: {
    type: "http",
    scheme: "bearer",
    description:
      "The worker token, CODETETHER_WORKER_TOKEN, as `Authorization: Bearer <token>`, for the worker protocol " +
      "(/v1/opencode/worker/*). A server without a worker token takes the API key there instead.",
  },
  metricsToken: {
    type: "http",
    scheme: "bearer",
    description:
      "The scraper's token, CODETETHER_METRICS_TOKEN, as `Authorization: Bearer <token>`, for GET /metrics. " +
      "A server without one takes the API key there instead (and leaves /metrics open when it has no key either).",
  },
} as const;

const description = `Run the OpenCode coding agent on registered codebases: trigger agents, follow their events live
(Server-Sent Events), queue durable tasks, and run them on workers.

- **Auth**: send \`Authorization: Bearer <CODETETHER_API_KEY>\` (scheme \`apiKey\`); workers use \`workerToken\` on
  /v1/opencode/worker/*, scrapers \`metricsToken\` on \`/metrics\`. \`/health\`, \`/ready\`, \`/openapi.json\` and
  \`/docs\` never need a key.
- **Errors**: every failure answers \`{"detail": "..."}\` (schema \`Error\`) with a fitting status.
- **This document** is generated from the route definitions (\`npm run openapi\`) and served at \`/openapi.json\`;
  \`/docs\` browses it.`;

/** Everything of the document that is not a route: title, version, tags, default security. */
const documentConfig = {
  openapi: "3.1.0",
  info: {
    title: "CodeTether API",
    version,
    description,
    // OpenAPI 3.1 names the license by its SPDX identifier; the builder's types only know 3.0's fields.
    license: { name: "MIT", identifier: "MIT" } as { name: string },
  },
  security: [{ apiKey: [] }],
  tags: [
    { name: "System", description: "Health and the OpenCode bridge's status" },
    { name: "Models", description: "The model catalogue" },
    { name: "Codebases", description: "Directories the agent works on" },
    { name: "Sessions", description: "Running an agent now and the sessions it leaves" },
    { name: "Events", description: "The live, resumable stream of agent events" },
    {
      name: "Changes",
      description: "What a run changed in its git worktree (its diff), and what the user decides: apply it, discard it, push its branch",
    },
    { name: "Tasks", description: "The durable task queue: tasks run in priority order, on this server or a worker" },
    { name: "Usage", description: "Tokens and cost of every run, added up as they are stored" },
    { name: "Workers", description: "The workers that run tasks for their codebases" },
    { name: "Worker protocol", description: "What a worker calls to register, claim, run and report tasks (worker token)" },
    { name: "Access", description: "Users, their API keys and roles, and the audit trail of every change (admins); who you are (everyone)" },
    {
      name: "Webhooks",
      description:
        "Signed (Standard Webhooks) messages to your endpoints when runs start, need a permission, end, or go over budget, tasks fail, workers go offline (admins)",
    },
  ],
} satisfies Parameters<Api["getOpenAPI31Document"]>[0];

const methodOrder = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];
/** Path-level fields (parameters, summary) first, then the methods in their usual order. */
const rank = (key: string) => methodOrder.indexOf(key);

function sortedKeys<T extends object>(obj: T, compare?: (a: string, b: string) => number): T {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (compare ? compare(a, b) : a < b ? -1 : a > b ? 1 : 0))) as T;
}

/**
 * The OpenAPI 3.1 document of the routes registered on `app`, with paths,
 * methods and components in a fixed order so registration order does not show.
 * Schema properties keep the order their zod shapes give them.
 */
export function buildDocument(app: Api): OpenApiDocument {
  const { openapi, info, paths = {}, webhooks = {}, components = {}, ...rest } = app.getOpenAPI31Document(documentConfig);
  const sortedPaths = sortedKeys(paths);
  for (const [path, item] of Object.entries(sortedPaths)) sortedPaths[path] = sortedKeys(item, (a, b) => rank(a) - rank(b));
  const sortedComponents: Record<string, object> = {};
  for (const [section, entries] of Object.entries(sortedKeys(components))) {
    if (Object.keys(entries as object).length > 0) sortedComponents[section] = sortedKeys(entries as object);
  }
  return {
    openapi,
    info,
    ...rest, // servers, security, tags, ... as documentConfig has them
    paths: sortedPaths,
    ...(Object.keys(webhooks).length > 0 ? { webhooks } : {}),
    components: sortedComponents,
  };
}

/** The document as the committed file holds it: 2-space JSON with a trailing newline. */
export function serializeDocument(doc: OpenApiDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
