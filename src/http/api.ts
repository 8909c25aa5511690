/**
 * The documented HTTP API: every route with its OpenAPI definition. Registering
 * needs no service context, so the document can be generated anywhere
 * (`createApi()`); `createApp` registers the same routes behind its middleware.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { securitySchemes } from "./document.js";
import type { Api, AppEnv } from "./openapi.js";
import { registerAccessRoutes } from "./rest/access.js";
import { registerCodebaseRoutes } from "./rest/codebases.js";
import { registerEventRoutes } from "./rest/events.js";
import { registerSessionRoutes } from "./rest/sessions.js";
import { registerSystemRoutes } from "./rest/system.js";
import { registerTaskRoutes } from "./rest/tasks.js";
import { registerUsageRoutes } from "./rest/usage.js";
import { registerWebhookRoutes } from "./rest/webhooks.js";
import { registerWorkerRoutes } from "./rest/worker.js";
import { registerWorktreeRoutes } from "./rest/worktrees.js";

/** Registers every documented route, and the security schemes they refer to, on `app`. */
export function registerApi(app: Api): void {
  for (const [name, scheme] of Object.entries(securitySchemes)) {
    app.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  }
  registerSystemRoutes(app);
  registerCodebaseRoutes(app);
  registerSessionRoutes(app);
  registerEventRoutes(app);
  registerTaskRoutes(app);
  registerWorkerRoutes(app);
  registerUsageRoutes(app);
  registerWorktreeRoutes(app);
  registerAccessRoutes(app);
  registerWebhookRoutes(app);
}

/** The API's routes alone, to document them: no middleware and no context, so it must not serve requests. */
export function createApi(): Api {
  const app = new OpenAPIHono<AppEnv>();
  registerApi(app);
  return app;
}
