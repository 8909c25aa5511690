/**
 * A run's changes as the user sees and decides them: read its diff, apply its
 * branch to the codebase (merge, fast-forward or uncommitted), discard it, or push
 * its branch. On this server's machine the verbs do it themselves; a worktree on a
 * worker becomes a task of its own for that worker, whose outcome comes back.
 */
import { randomUUID } from "node:crypto";
import { eq, getTableColumns } from "drizzle-orm";
import { conflict, notFound, ServiceError } from "../../contracts/errors.js";
import type { Db } from "../../db/client.js";
import { sessions, tasks, worktrees } from "../../db/schema.js";
import { ApplyConflict, NoRemote } from "../../git/apply.js";
import { readablePatch } from "../../git/diff.js";
import { currentBranch, remotes } from "../../git/repo.js";
import { type ActionOutcome, performWorktreeAction, type WorktreeAction } from "../../workspace/actions.js";
import { recordAudit } from "../access/audit.js";
import { getCodebaseRow } from "../codebases/codebases.js";
import type { ServiceContext } from "../context.js";
import { getSessionRow } from "../sessions/session-store.js";
import { taskRunnableHint } from "../tasks/task-wake.js";
import { getTaskRow } from "../tasks/tasks.js";
import { localRunner, recordRemoved, storeDiff, toInfo, toSummary, type WorktreeRow, worktreeOfSession, worktreeOfTask } from "./records.js";
import type { ChangeResult, RunDiff } from "./worktrees.types.js";

/** Which run's changes: a session's, or a task's latest attempt's. */
export type RunRef = { codebaseId: string; sessionId: string } | { taskId: string };

async function worktreeOf(ctx: ServiceContext, ref: RunRef): Promise<WorktreeRow> {
  const db = ctx.database.db;
  if ("taskId" in ref) {
    const task = await getTaskRow({ ctx, id: ref.taskId });
    const row = await worktreeOfTask(db, task.id);
    if (!row) throw notFound(`A worktree for task ${task.id} (it has not run yet, or ran without isolation)`);
    return row;
  }
  await getCodebaseRow({ ctx, id: ref.codebaseId });
  const session = await getSessionRow(ctx, ref.codebaseId, ref.sessionId);
  const row = await worktreeOfSession(db, session.id);
  if (!row) throw notFound(`A worktree for session ${session.id} (it ran without isolation: no git repository, or agent_config.isolation "none")`);
  return row;
}

/** The run's diff and summary as stored, and the patch itself for `?format=patch`. */
export async function getRunDiff({ ctx, ref }: { ctx: ServiceContext; ref: RunRef }): Promise<{ diff: RunDiff; patch: Buffer }> {
  const row = await worktreeOf(ctx, ref);
  const patch = row.patch ?? Buffer.alloc(0);
  // What apply and push would work with, when the repository is on this machine.
  const here = row.runner === localRunner;
  const [target, remoteNames] = here
    ? await Promise.all([currentBranch(row.repoPath).catch(() => null), remotes(row.repoPath).catch(() => null)])
    : [null, null];
  return {
    patch,
    diff: {
      ...toSummary(row),
      codebase_id: row.codebaseId,
      session_id: row.sessionId,
      task_id: row.taskId,
      files: row.files as RunDiff["files"],
      omitted_files: row.omittedFiles,
      diff: readablePatch({ patch, truncated: row.truncated, omitted_files: row.omittedFiles }, row.branch),
      target_branch: target,
      remotes: remoteNames,
    },
  };
}

/** Applies, discards or pushes the run's worktree (see the module comment). */
export async function changeRun({ ctx, ref, action }: { ctx: ServiceContext; ref: RunRef; action: WorktreeAction }): Promise<ChangeResult> {
  const row = await worktreeOf(ctx, ref);
  if (row.state === "applied" || row.state === "discarded") {
    throw conflict(`The run's changes were already ${row.state} (branch ${row.branch})`);
  }
  if (action.op !== "push" && row.sessionId) {
    const [session] = await ctx.database.db.select({ status: sessions.status }).from(sessions).where(eq(sessions.id, row.sessionId));
    if (session?.status === "running")
      throw conflict(`Session ${row.sessionId} is still running: wait for it to end, or abort it, before you ${action.op} its changes`);
  }
  if (row.runner !== localRunner) return queueOnWorker(ctx, row, action);
  return changeLocally(ctx, row, action);
}

/** The worktree is on this machine: do it here. */
async function changeLocally(ctx: ServiceContext, row: WorktreeRow, action: WorktreeAction): Promise<ChangeResult> {
  const db = ctx.database.db;
  const codebase = await getCodebaseRow({ ctx, id: row.codebaseId });
  let done: ActionOutcome;
  try {
    done = await performWorktreeAction(ctx.worktrees, toInfo(row), action, mergeMessage(row, codebase.name), ctx.config.worktrees.diffMaxBytes);
  } catch (err) {
    if (err instanceof ApplyConflict) throw new ServiceError("CONFLICT", err.message, { cause: err, details: { conflicts: err.files } });
    if (err instanceof NoRemote || action.op === "push") throw new ServiceError("CONFLICT", (err as Error).message, { cause: err });
    throw err;
  }
  const audit = (tx: Db, detail: Record<string, unknown>) =>
    recordAudit(tx, ctx, {
      action: `worktree.${action.op}`,
      targetType: "worktree",
      targetId: row.id,
      detail: { branch: row.branch, session_id: row.sessionId, task_id: row.taskId, ...detail },
    });
  if (done.op === "push") {
    const remote = done.remote;
    await db.transaction(async (tx) => {
      await tx.update(worktrees).set({ pushedTo: remote, updatedAt: new Date() }).where(eq(worktrees.id, row.id));
      await audit(tx, { remote });
    });
    return { worktree_id: row.id, state: "pushed", branch: row.branch, remote };
  }
  if (done.op === "discard") {
    await db.transaction(async (tx) => {
      await recordRemoved(tx, row.id, "discarded");
      await audit(tx, {});
    });
    return { worktree_id: row.id, state: "discarded", branch: row.branch };
  }
  const { outcome } = done;
  const diff = done.diff;
  await db.transaction(async (tx) => {
    if (diff) await storeDiff(tx, row.id, diff);
    await recordRemoved(tx, row.id, "applied", { appliedMode: outcome.mode, appliedCommit: outcome.commit });
    await audit(tx, { mode: outcome.mode, commit: outcome.commit });
  });
  return {
    worktree_id: row.id,
    state: "applied",
    branch: row.branch,
    mode: outcome.mode,
    target_branch: outcome.branch,
    commit: outcome.commit,
    files: outcome.files,
  };
}

/** The merge commit's message: which run, of which codebase. */
function mergeMessage(row: { branch: string; sessionId: string | null }, codebaseName: string): string {
  return `Merge ${row.branch} (CodeTether run${row.sessionId ? ` of session ${row.sessionId}` : ""} on ${codebaseName})`;
}

/** The worktree lives on a worker: a task pinned to it does the work there (see the worker's `runAction`). */
async function queueOnWorker(ctx: ServiceContext, row: WorktreeRow, action: WorktreeAction): Promise<ChangeResult> {
  const what = action.op === "apply" ? `Apply ${row.branch} (${action.mode})` : action.op === "discard" ? `Discard ${row.branch}` : `Push ${row.branch}`;
  const message = mergeMessage(row, (await getCodebaseRow({ ctx, id: row.codebaseId })).name);
  const task = await ctx.events.transaction(async (tx, append) => {
    const [task] = await tx
      .insert(tasks)
      .values({
        id: randomUUID(),
        codebaseId: row.codebaseId,
        title: what,
        prompt: `${what} on ${row.runner}`,
        kind: action.op,
        // Everything the worker needs to find the worktree in its copy.
        action: {
          ...action,
          worktree_id: row.id,
          repo_path: row.repoPath,
          path: row.path,
          branch: row.branch,
          base_commit: row.baseCommit,
          base_ref: row.baseRef,
          directory: row.directory,
          message,
        },
        runnerPin: row.runner,
        // Git work is done once or reported failed: a second try would meet a half-changed repository.
        maxAttempts: 1,
        priority: 1000,
      })
      .returning({ ...getTableColumns(tasks), hint: taskRunnableHint });
    await append(row.codebaseId, [
      {
        type: "status",
        data: { session_id: row.sessionId, status: "queued", task_id: task!.id, message: `${what}: queued for worker ${row.runner}` },
        taskId: task!.id,
      },
    ]);
    await recordAudit(tx, ctx, {
      action: `worktree.${action.op}`,
      targetType: "worktree",
      targetId: row.id,
      detail: { branch: row.branch, session_id: row.sessionId, task_id: row.taskId, queued_for: row.runner, action_task_id: task!.id },
    });
    return task!;
  });
  ctx.taskWake.wakeAll();
  return { worktree_id: row.id, state: "queued", branch: row.branch, ...(action.op === "apply" ? { mode: action.mode } : {}), task_id: task.id };
}
