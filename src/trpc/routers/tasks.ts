import { z } from "zod";
import { Id } from "../../contracts/fields.js";
import { parseCursor } from "../../services/events/follow.js";
import { cancelTask, createTask, createTasks, getTask, getTaskRow, listTasks, retryTask } from "../../services/tasks/tasks.js";
import { CreateTaskRequest, CreateTasksRequest, ListTasksQuery, RetryTaskRequest } from "../../services/tasks/tasks.types.js";
import { listWorkers } from "../../services/tasks/workers.js";
import { changeRun, getRunDiff } from "../../services/worktrees/changes.js";
import { ApplyRequest, PushRequest } from "../../services/worktrees/worktrees.types.js";
import { readProcedure, router, toTrpcError, writeProcedure } from "../init.js";
import { followTracked } from "./events.js";

export const tasksRouter = router({
  create: writeProcedure
    .input(z.object({ codebaseId: Id, task: CreateTaskRequest }))
    .mutation(({ ctx, input }) => createTask({ ctx: ctx.services, codebaseId: input.codebaseId, input: input.task })),
  /** Up to 500 at once, all or none; answered in the order given. */
  createMany: writeProcedure
    .input(CreateTasksRequest.extend({ codebaseId: Id }))
    .mutation(({ ctx, input: { codebaseId, ...input } }) => createTasks({ ctx: ctx.services, codebaseId, input })),
  /** One page as a plain array (`limit`, `cursor` and `q` apply); `page` also answers the next cursor. */
  list: readProcedure.input(ListTasksQuery.optional()).query(async ({ ctx, input }) => (await listTasks({ ctx: ctx.services, query: input ?? {} })).items),
  page: readProcedure.input(ListTasksQuery.optional()).query(({ ctx, input }) => listTasks({ ctx: ctx.services, query: input ?? {} })),
  get: readProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getTask({ ctx: ctx.services, id: input.id })),
  cancel: writeProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => cancelTask({ ctx: ctx.services, id: input.id })),
  retry: writeProcedure
    .input(z.object({ id: Id, attempts: RetryTaskRequest.shape.attempts }))
    .mutation(({ ctx, input }) => retryTask({ ctx: ctx.services, id: input.id, input: { attempts: input.attempts } })),
  /** What the task's latest attempt changed in its worktree. */
  diff: readProcedure.input(z.object({ id: Id })).query(async ({ ctx, input }) => (await getRunDiff({ ctx: ctx.services, ref: { taskId: input.id } })).diff),
  applyChanges: writeProcedure
    .input(z.object({ id: Id, mode: ApplyRequest.shape.mode }))
    .mutation(({ ctx, input }) => changeRun({ ctx: ctx.services, ref: { taskId: input.id }, action: { op: "apply", mode: input.mode ?? "merge" } })),
  discardChanges: writeProcedure
    .input(z.object({ id: Id }))
    .mutation(({ ctx, input }) => changeRun({ ctx: ctx.services, ref: { taskId: input.id }, action: { op: "discard" } })),
  pushBranch: writeProcedure
    .input(z.object({ id: Id, remote: PushRequest.shape.remote }))
    .mutation(({ ctx, input }) => changeRun({ ctx: ctx.services, ref: { taskId: input.id }, action: { op: "push", remote: input.remote } })),
  /** One task's events across all its attempts: from its start (or after `lastEventId`), then live; each `tracked()`. */
  onEvents: readProcedure.input(z.object({ id: Id, lastEventId: z.string().nullish() })).subscription(async function* ({ ctx, input, signal }) {
    try {
      const task = await getTaskRow({ ctx: ctx.services, id: input.id });
      yield* followTracked(ctx.services, task.codebaseId, { after: parseCursor(input.lastEventId) ?? 0, taskId: task.id }, signal);
    } catch (err) {
      throw toTrpcError(err);
    }
  }),
});

export const workersRouter = router({
  list: readProcedure.query(({ ctx }) => listWorkers({ ctx: ctx.services })),
});
