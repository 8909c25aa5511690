/**
 * The `worktrees` table: one row per isolated run (a session, and the task
 * attempt it belongs to), written when the run opens its worktree, with each diff,
 * and when it ends; read by sessions, tasks and codebases for their answers.
 */
import { and, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { worktrees } from "../../db/schema.js";
import type { FileChange, WorktreeDiff } from "../../git/diff.js";
import type { WorktreeInfo } from "../../workspace/workspace.js";
import type { ServiceContext } from "../context.js";
import { localRunnerName } from "../tasks/tasks.types.js";
import type { WorktreeState, WorktreeSummary } from "./worktrees.types.js";

export type WorktreeRow = typeof worktrees.$inferSelect;

/** The runner name of the server's own machine (triggers and its local task runner). */
export const localRunner = localRunnerName;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toSummary(row: WorktreeRow): WorktreeSummary {
  return {
    id: row.id,
    state: row.state as WorktreeState,
    branch: row.branch,
    base_ref: row.baseRef,
    base_commit: row.baseCommit,
    head_commit: row.headCommit,
    runner: row.runner,
    path: row.removedAt ? null : row.path,
    files_changed: (row.files as unknown[]).length,
    additions: row.additions,
    deletions: row.deletions,
    truncated: row.truncated,
    diff_at: iso(row.diffAt),
    disk_bytes: row.diskBytes,
    applied_mode: row.appliedMode,
    applied_commit: row.appliedCommit,
    pushed_to: row.pushedTo,
    created_at: row.createdAt.toISOString(),
    ended_at: iso(row.endedAt),
  };
}

/** The row as the runner layer knows a worktree. */
export function toInfo(row: WorktreeRow): WorktreeInfo {
  return { id: row.id, repo: row.repoPath, path: row.path, directory: row.directory, branch: row.branch, baseRef: row.baseRef, baseCommit: row.baseCommit };
}

export async function worktreeOfSession(db: Db, sessionId: string): Promise<WorktreeRow | undefined> {
  const [row] = await db.select().from(worktrees).where(eq(worktrees.sessionId, sessionId));
  return row;
}

/** The worktree of the task's latest attempt that had one. */
export async function worktreeOfTask(db: Db, taskId: string): Promise<WorktreeRow | undefined> {
  const [row] = await db.select().from(worktrees).where(eq(worktrees.taskId, taskId)).orderBy(desc(worktrees.createdAt)).limit(1);
  return row;
}

export async function worktreeById(db: Db, id: string): Promise<WorktreeRow | undefined> {
  const [row] = await db.select().from(worktrees).where(eq(worktrees.id, id));
  return row;
}

/** Summaries by session id, for a page of sessions (one query). */
export async function summariesBySession(ctx: ServiceContext, sessionIds: string[]): Promise<Map<string, WorktreeSummary>> {
  if (sessionIds.length === 0) return new Map();
  const rows = await ctx.database.db.select().from(worktrees).where(inArray(worktrees.sessionId, sessionIds));
  return new Map(rows.map((r) => [r.sessionId!, toSummary(r)]));
}

/** Summaries of each task's latest worktree, for a page of tasks (one query). */
export async function summariesByTask(ctx: ServiceContext, taskIds: string[]): Promise<Map<string, WorktreeSummary>> {
  if (taskIds.length === 0) return new Map();
  const rows = await ctx.database.db.select().from(worktrees).where(inArray(worktrees.taskId, taskIds)).orderBy(worktrees.createdAt);
  return new Map(rows.map((r) => [r.taskId!, toSummary(r)]));
}

/** Worktrees kept and the disk they take, per codebase (those not removed). */
export async function worktreeUse(ctx: ServiceContext, codebaseIds: string[]): Promise<Map<string, { count: number; disk_bytes: number }>> {
  if (codebaseIds.length === 0) return new Map();
  const rows = await ctx.database.db
    .select({ codebaseId: worktrees.codebaseId, n: sql<number>`count(*)::int`, bytes: sql<string>`coalesce(sum(${worktrees.diskBytes}), 0)` })
    .from(worktrees)
    .where(and(inArray(worktrees.codebaseId, codebaseIds), isNull(worktrees.removedAt)))
    .groupBy(worktrees.codebaseId);
  return new Map(rows.map((r) => [r.codebaseId, { count: Number(r.n), disk_bytes: Number(r.bytes) }]));
}

/** Records a run's worktree once its session exists (again on a resume: it is active and running again). */
export async function recordOpened(
  db: Db,
  input: { info: WorktreeInfo; codebaseId: string; sessionId: string; taskId: string | null; runner: string },
): Promise<void> {
  const { info } = input;
  const values = {
    id: info.id,
    codebaseId: input.codebaseId,
    sessionId: input.sessionId,
    taskId: input.taskId,
    runner: input.runner,
    repoPath: info.repo,
    path: info.path,
    directory: info.directory,
    branch: info.branch,
    baseRef: info.baseRef,
    baseCommit: info.baseCommit,
  };
  await db
    .insert(worktrees)
    .values(values)
    .onConflictDoUpdate({
      target: worktrees.id,
      set: { baseCommit: info.baseCommit, state: "active", endedAt: null, removedAt: null, updatedAt: new Date() },
    });
}

/** Stores a diff of the worktree (the patch as bytes, the files as JSON). */
export async function storeDiff(
  db: Db,
  id: string,
  diff: Pick<WorktreeDiff, "files" | "additions" | "deletions" | "patch" | "truncated" | "omitted_files" | "head_commit">,
): Promise<void> {
  await db
    .update(worktrees)
    .set({
      files: diff.files as FileChange[],
      additions: diff.additions,
      deletions: diff.deletions,
      patch: diff.patch,
      truncated: diff.truncated,
      omittedFiles: diff.omitted_files,
      headCommit: diff.head_commit,
      diffAt: new Date(),
      updatedAt: new Date(),
    })
    .where(eq(worktrees.id, id));
}

/** The run ended: its time to live counts from now; what it takes on disk is what it measured. */
export async function recordEnded(db: Db, id: string, diskBytes: number | null): Promise<void> {
  await db
    .update(worktrees)
    .set({ endedAt: new Date(), ...(diskBytes === null ? {} : { diskBytes }), updatedAt: new Date() })
    .where(eq(worktrees.id, id));
}

/** The user decided (applied, discarded), or clean-up removed it: the worktree is gone, the row stays. */
export async function recordRemoved(
  db: Db,
  id: string,
  state: Exclude<WorktreeState, "active">,
  extra: { appliedMode?: string; appliedCommit?: string } = {},
): Promise<WorktreeRow | undefined> {
  const [row] = await db
    .update(worktrees)
    .set({ state, removedAt: new Date(), diskBytes: 0, ...extra, updatedAt: new Date() })
    .where(eq(worktrees.id, id))
    .returning();
  return row;
}
