import { z } from "zod";
import { Id } from "../../contracts/fields.js";
import { PageQuery } from "../../services/paging.js";
import { syncSessions } from "../../services/sessions/session-sync.js";
import {
  abortSession,
  answerPermission,
  editQueuedPrompt,
  getSession,
  listAllSessions,
  listMessages,
  listQueuedPrompts,
  listSessions,
  removeQueuedPrompt,
} from "../../services/sessions/sessions.js";
import { EditQueuedPrompt, ListAllSessionsQuery, ListSessionsQuery, PermissionAnswer, TriggerRequest } from "../../services/sessions/sessions.types.js";
import { triggerAgent } from "../../services/sessions/trigger.js";
import { changeRun, getRunDiff } from "../../services/worktrees/changes.js";
import { ApplyRequest, PushRequest } from "../../services/worktrees/worktrees.types.js";
import { readProcedure, router, writeProcedure } from "../init.js";

const SessionRef = z.object({ codebaseId: Id, sessionId: Id });

export const sessionsRouter = router({
  trigger: writeProcedure
    .input(z.object({ codebaseId: Id, request: TriggerRequest }))
    .mutation(({ ctx, input }) => triggerAgent({ ctx: ctx.services, codebaseId: input.codebaseId, input: input.request })),
  /** The first page (up to 100), as a plain array; `page` goes further and searches. */
  list: readProcedure
    .input(z.object({ codebaseId: Id }))
    .query(async ({ ctx, input }) => (await listSessions({ ctx: ctx.services, codebaseId: input.codebaseId })).items),
  page: readProcedure
    .input(ListSessionsQuery.extend({ codebaseId: Id }))
    .query(({ ctx, input: { codebaseId, ...query } }) => listSessions({ ctx: ctx.services, codebaseId, query })),
  /** Every codebase's sessions the caller may see, a page at a time; filter by codebase and status, search titles. */
  all: readProcedure.input(ListAllSessionsQuery.optional()).query(({ ctx, input }) => listAllSessions({ ctx: ctx.services, query: input ?? {} })),
  get: readProcedure.input(SessionRef).query(({ ctx, input }) => getSession({ ctx: ctx.services, ...input })),
  /** The whole transcript, a page at a time, oldest first (`get` holds the newest 1,000 messages at most). */
  messages: readProcedure
    .input(SessionRef.extend(PageQuery.shape))
    .query(({ ctx, input: { codebaseId, sessionId, ...query } }) => listMessages({ ctx: ctx.services, codebaseId, sessionId, query })),
  /** Queued follow-ups (`queue: true` while the session ran): waiting ones in order, then the rest. */
  queue: readProcedure.input(SessionRef).query(({ ctx, input }) => listQueuedPrompts({ ctx: ctx.services, ...input })),
  editQueued: writeProcedure
    .input(SessionRef.extend({ promptId: Id, changes: EditQueuedPrompt }))
    .mutation(({ ctx, input: { changes, ...ref } }) => editQueuedPrompt({ ctx: ctx.services, ...ref, input: changes })),
  removeQueued: writeProcedure.input(SessionRef.extend({ promptId: Id })).mutation(({ ctx, input }) => removeQueuedPrompt({ ctx: ctx.services, ...input })),
  abort: writeProcedure.input(SessionRef).mutation(({ ctx, input }) => abortSession({ ctx: ctx.services, ...input })),
  answerPermission: writeProcedure.input(SessionRef.extend({ permissionId: Id, reply: PermissionAnswer.shape.reply })).mutation(({ ctx, input }) =>
    answerPermission({
      ctx: ctx.services,
      codebaseId: input.codebaseId,
      sessionId: input.sessionId,
      permissionId: input.permissionId,
      input: { reply: input.reply },
    }),
  ),
  /** What the session's run changed in its worktree (REST `?format=patch` gives the patch itself). */
  diff: readProcedure.input(SessionRef).query(async ({ ctx, input }) => (await getRunDiff({ ctx: ctx.services, ref: input })).diff),
  applyChanges: writeProcedure
    .input(SessionRef.extend(ApplyRequest.shape))
    .mutation(({ ctx, input: { mode, ...ref } }) => changeRun({ ctx: ctx.services, ref, action: { op: "apply", mode: mode ?? "merge" } })),
  discardChanges: writeProcedure.input(SessionRef).mutation(({ ctx, input }) => changeRun({ ctx: ctx.services, ref: input, action: { op: "discard" } })),
  pushBranch: writeProcedure
    .input(SessionRef.extend(PushRequest.shape))
    .mutation(({ ctx, input: { remote, ...ref } }) => changeRun({ ctx: ctx.services, ref, action: { op: "push", remote } })),
  sync: writeProcedure.input(z.object({ codebaseId: Id })).mutation(({ ctx, input }) => syncSessions({ ctx: ctx.services, codebaseId: input.codebaseId })),
});
