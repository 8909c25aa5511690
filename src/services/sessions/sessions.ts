/**
 * Sessions: list and read a codebase's sessions and their messages, abort a run, answer a permission request, and
 * see, change or remove the follow-ups queued on a session. Triggering a run is trigger.ts.
 */
import { conflict, ServiceError } from "../../contracts/errors.js";
import { workingDirectory } from "../../opencode/run-settings.js";
import { recordAudit } from "../access/audit.js";
import { getCodebaseRow } from "../codebases/codebases.js";
import type { ServiceContext } from "../context.js";
import type { Page, PageQuery } from "../paging.js";
import { cancelFollowUps, editQueued, listQueued, removeQueued } from "./follow-ups.js";
import { getSessionRow, pageMessages, pageSessions, sessionDetail } from "./session-store.js";
import type {
  EditQueuedPrompt,
  ListAllSessionsQuery,
  ListSessionsQuery,
  Message,
  PermissionAnswer,
  QueuedPrompt,
  Session,
  SessionDetail,
} from "./sessions.types.js";

/** A page of the codebase's sessions, most recently active first; `q` searches titles. */
export async function listSessions({
  ctx,
  codebaseId,
  query = {},
}: {
  ctx: ServiceContext;
  codebaseId: string;
  query?: ListSessionsQuery;
}): Promise<Page<Session>> {
  await getCodebaseRow({ ctx, id: codebaseId });
  return pageSessions(ctx, { codebaseId }, query);
}

/** A page of the sessions of every codebase the caller may see, most recently active first; filter by codebase and status, search titles. */
export async function listAllSessions({ ctx, query = {} }: { ctx: ServiceContext; query?: ListAllSessionsQuery }): Promise<Page<Session>> {
  const { codebase_id, status, ...rest } = query;
  if (codebase_id) await getCodebaseRow({ ctx, id: codebase_id });
  return pageSessions(ctx, { codebaseId: codebase_id, status }, rest);
}

export async function getSession({ ctx, codebaseId, sessionId }: { ctx: ServiceContext; codebaseId: string; sessionId: string }): Promise<SessionDetail> {
  await getCodebaseRow({ ctx, id: codebaseId });
  return sessionDetail(ctx, await getSessionRow(ctx, codebaseId, sessionId));
}

/** A page of the session's messages, oldest first. */
export async function listMessages({
  ctx,
  codebaseId,
  sessionId,
  query = {},
}: {
  ctx: ServiceContext;
  codebaseId: string;
  sessionId: string;
  query?: PageQuery;
}): Promise<Page<Message>> {
  await getCodebaseRow({ ctx, id: codebaseId });
  await getSessionRow(ctx, codebaseId, sessionId);
  return pageMessages(ctx, sessionId, query);
}

export async function abortSession({
  ctx,
  codebaseId,
  sessionId,
}: {
  ctx: ServiceContext;
  codebaseId: string;
  sessionId: string;
}): Promise<{ session_id: string; status: "aborting" }> {
  const codebase = await getCodebaseRow({ ctx, id: codebaseId });
  const row = await getSessionRow(ctx, codebaseId, sessionId);
  if (!ctx.bridge.runner.isRunning(row.id)) {
    throw conflict(`Session ${row.id} is not running on this server (status: ${row.status})`);
  }
  // What was queued behind the run is not run after an abort.
  await cancelFollowUps(ctx, row.id);
  await ctx.bridge.runner.abort(row.id, workingDirectory(codebase));
  // The abort itself is OpenCode's; the run's end is recorded when it comes. The request is what is audited.
  await recordAudit(ctx.database.db, ctx, { action: "session.abort", targetType: "session", targetId: row.id, detail: { codebase_id: codebaseId } });
  return { session_id: row.id, status: "aborting" };
}

export async function answerPermission({
  ctx,
  codebaseId,
  sessionId,
  permissionId,
  input,
}: {
  ctx: ServiceContext;
  codebaseId: string;
  sessionId: string;
  permissionId: string;
  input: PermissionAnswer;
}): Promise<{ permission_id: string; reply: PermissionAnswer["reply"] }> {
  await getSessionRow(ctx, codebaseId, sessionId);
  try {
    await ctx.bridge.runner.answerPermission(sessionId, permissionId, input.reply);
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    throw new ServiceError("UNAVAILABLE", `OpenCode did not take the answer: ${(err as Error).message}`, { cause: err });
  }
  await recordAudit(ctx.database.db, ctx, {
    action: "session.permission",
    targetType: "session",
    targetId: sessionId,
    detail: { codebase_id: codebaseId, permission_id: permissionId, reply: input.reply },
  });
  return { permission_id: permissionId, reply: input.reply };
}

/** The session's queued follow-ups: waiting ones first in order, then those that started or ended. */
export async function listQueuedPrompts({
  ctx,
  codebaseId,
  sessionId,
}: {
  ctx: ServiceContext;
  codebaseId: string;
  sessionId: string;
}): Promise<QueuedPrompt[]> {
  await getCodebaseRow({ ctx, id: codebaseId });
  await getSessionRow(ctx, codebaseId, sessionId);
  return listQueued(ctx, sessionId);
}

/** Changes a queued follow-up's prompt, agent or model before it starts (409 once it has). */
export async function editQueuedPrompt({
  ctx,
  codebaseId,
  sessionId,
  promptId,
  input,
}: {
  ctx: ServiceContext;
  codebaseId: string;
  sessionId: string;
  promptId: string;
  input: EditQueuedPrompt;
}): Promise<QueuedPrompt> {
  await getCodebaseRow({ ctx, id: codebaseId });
  await getSessionRow(ctx, codebaseId, sessionId);
  return editQueued(ctx, sessionId, promptId, input);
}

/** Removes a queued follow-up before it starts (409 once it has). */
export async function removeQueuedPrompt({
  ctx,
  codebaseId,
  sessionId,
  promptId,
}: {
  ctx: ServiceContext;
  codebaseId: string;
  sessionId: string;
  promptId: string;
}): Promise<{ id: string; removed: true }> {
  await getCodebaseRow({ ctx, id: codebaseId });
  await getSessionRow(ctx, codebaseId, sessionId);
  return removeQueued(ctx, sessionId, promptId);
}
