/** The application router: one sub-router per domain. Its type is what the SDK imports. */
import { router } from "./init.js";
import { accessRouter } from "./routers/access.js";
import { codebasesRouter } from "./routers/codebases.js";
import { eventsRouter } from "./routers/events.js";
import { modelsRouter } from "./routers/models.js";
import { sessionsRouter } from "./routers/sessions.js";
import { statusRouter } from "./routers/status.js";
import { tasksRouter, workersRouter } from "./routers/tasks.js";
import { usageRouter } from "./routers/usage.js";
import { webhooksRouter } from "./routers/webhooks.js";

export const appRouter = router({
  codebases: codebasesRouter,
  sessions: sessionsRouter,
  events: eventsRouter,
  tasks: tasksRouter,
  workers: workersRouter,
  models: modelsRouter,
  status: statusRouter,
  usage: usageRouter,
  access: accessRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
