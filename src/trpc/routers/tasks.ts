import { z } from "zod";
import { Id } from "../../services/schemas.js";
import { cancelTask, createTask, getTask, listTasks } from "../../services/tasks.js";
import { CreateTaskRequest, ListTasksQuery } from "../../services/tasks.types.js";
import { listWorkers } from "../../services/workers.js";
import { publicProcedure, router } from "../init.js";

export const tasksRouter = router({
  create: publicProcedure.input(z.object({ codebaseId: Id, task: CreateTaskRequest })).mutation(async ({ ctx, input }) => {
    const task = await createTask({ ctx: ctx.services, codebaseId: input.codebaseId, input: input.task });
    ctx.services.localRunner.poke();
    return task;
  }),
  /** One page as a plain array (`limit`, `cursor` and `q` apply); `page` also answers the next cursor. */
  list: publicProcedure.input(ListTasksQuery.optional()).query(async ({ ctx, input }) => (await listTasks({ ctx: ctx.services, query: input ?? {} })).items),
  page: publicProcedure.input(ListTasksQuery.optional()).query(({ ctx, input }) => listTasks({ ctx: ctx.services, query: input ?? {} })),
  get: publicProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getTask({ ctx: ctx.services, id: input.id })),
  cancel: publicProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => cancelTask({ ctx: ctx.services, id: input.id })),
});

export const workersRouter = router({
  list: publicProcedure.query(({ ctx }) => listWorkers({ ctx: ctx.services })),
});
