/**
 * Runs on this server's machine (triggers and the local task runner): where they
 * work (a worktree of the codebase's repository, or the directory itself) and the
 * recorder that keeps their worktrees and diffs in the database.
 */

import type { codebases } from "../../db/schema.js";
import type { WorktreeDiff } from "../../git/diff.js";
import { type OpenedWorkspace, openWorkspace, type WorkspaceRecorder } from "../../workspace/workspace.js";
import { noteVersioned } from "../codebases/codebases.js";
import type { ServiceContext } from "../context.js";
import { untilDatabaseAnswers } from "../outage.js";
import { localRunner, recordEnded, recordOpened, storeDiff, toInfo, worktreeOfSession } from "./records.js";

type CodebaseRow = typeof codebases.$inferSelect;

/**
 * Where a run of the codebase works. A resumed session goes back to its own
 * worktree (made again if it was removed); a new run gets a worktree when the
 * codebase is a git repository and isolation is not turned off.
 */
type LocalOpenRequest = { codebase: CodebaseRow; directory: string; title: string; baseRef?: string; resumeSessionId?: string };

/** …or, for a new run opened before it is known to start (`onlyIfPooled`, see OpenRequest), null when no worktree is ready. */
export async function openLocalWorkspace(input: { ctx: ServiceContext } & LocalOpenRequest & { onlyIfPooled: true }): Promise<OpenedWorkspace | null>;
export async function openLocalWorkspace(input: { ctx: ServiceContext } & LocalOpenRequest): Promise<OpenedWorkspace>;
export async function openLocalWorkspace({
  ctx,
  ...input
}: { ctx: ServiceContext } & LocalOpenRequest & { onlyIfPooled?: boolean }): Promise<OpenedWorkspace | null> {
  const config = input.codebase.agentConfig;
  const row = input.resumeSessionId ? await worktreeOfSession(ctx.database.db, input.resumeSessionId) : undefined;
  const opened = await openWorkspace({
    manager: ctx.worktrees,
    codebaseDir: input.codebase.path,
    workingDirectory: input.directory,
    setting: config.isolation,
    key: input.codebase.id,
    title: input.title,
    baseRef: input.baseRef,
    resume: row && row.runner === localRunner ? toInfo(row) : undefined,
    onlyIfPooled: input.onlyIfPooled,
  });
  if (!opened) return null;
  // What the codebase answer says about isolation follows what the last run found (a run without isolation does
  // not wait for it: what git says of its directory changes nothing for the run).
  if (opened.isolation === "worktree") await noteVersioned(ctx, input.codebase, true);
  else
    void opened
      .versioned()
      .then((versioned) => noteVersioned(ctx, input.codebase, versioned))
      .catch((err) => ctx.log.warn({ err, codebase_id: input.codebase.id }, "noting whether the codebase is a git repository failed"));
  return opened;
}

/** Keeps a local run's worktree and diffs in the database; an outage is waited out (until shutdown). */
export function localRecorder({ ctx, ...run }: { ctx: ServiceContext; codebaseId: string; taskId: string | null }): WorkspaceRecorder {
  const db = ctx.database.db;
  const retried = <T>(work: () => Promise<T>) => untilDatabaseAnswers(work, { signal: ctx.shutdown });
  return {
    opened: async (worktree, sessionId) => {
      await retried(() => recordOpened(db, { info: worktree, codebaseId: run.codebaseId, sessionId, taskId: run.taskId, runner: localRunner }));
    },
    diffed: async (worktree, diff: WorktreeDiff) => {
      await retried(() => storeDiff(db, worktree.id, diff));
    },
    ended: async (worktree, diskBytes) => {
      await retried(() => recordEnded(db, worktree.id, diskBytes));
    },
  };
}
