/**
 * What workers tell the server about the worktrees they hold: a run's worktree
 * once its session exists, each diff, the run's end, and the outcome of an apply,
 * discard or push the server queued for them. Fenced by the task's lease, like
 * every other report, and idempotent: a resent report changes nothing more.
 */
import { eq, sql } from "drizzle-orm";
import { conflict, invalid } from "../../contracts/errors.js";
import { tasks, worktrees } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { lockLeased } from "../tasks/leases.js";
import { recordOpened, storeDiff, worktreeById } from "./records.js";
import type { WorktreeReport } from "./worktrees.types.js";

export async function reportWorktree({
  ctx,
  taskId,
  input,
}: {
  ctx: ServiceContext;
  taskId: string;
  input: WorktreeReport;
}): Promise<{ worktree_id: string; stored: true }> {
  await ctx.database.db.transaction(async (tx) => {
    const task = await lockLeased(tx, taskId, input.lease_token);
    const runner = task.workerId!;
    const existing = await worktreeById(tx, input.worktree_id);
    if (existing && (existing.runner !== runner || existing.codebaseId !== task.codebaseId)) {
      throw conflict(`Worktree ${input.worktree_id} is not ${runner}'s`);
    }
    if (task.kind === "agent") {
      if (existing && existing.taskId !== taskId) throw conflict(`Worktree ${input.worktree_id} belongs to another task`);
      if (input.session_id) {
        if (task.sessionId && task.sessionId !== input.session_id) throw conflict(`This attempt runs session ${task.sessionId}, not ${input.session_id}`);
        // The attempt's session, as its first events would name it (see uploadTaskEvents).
        if (!task.sessionId) await tx.update(tasks).set({ sessionId: input.session_id }).where(eq(tasks.id, taskId));
        await recordOpened(tx, {
          info: {
            id: input.worktree_id,
            repo: input.repo_path,
            path: input.path,
            directory: input.directory,
            branch: input.branch,
            baseRef: input.base_ref,
            baseCommit: input.base_commit,
          },
          codebaseId: task.codebaseId,
          sessionId: input.session_id,
          taskId,
          runner,
        });
      } else if (!existing) {
        throw invalid("session_id: the first report of a run's worktree names its session");
      }
    } else {
      const action = task.action as { worktree_id?: string } | null;
      if (action?.worktree_id !== input.worktree_id || !existing)
        throw conflict(`This task works on worktree ${action?.worktree_id}, not ${input.worktree_id}`);
    }
    if (input.diff) {
      await storeDiff(tx, input.worktree_id, {
        files: input.diff.files,
        additions: input.diff.additions,
        deletions: input.diff.deletions,
        truncated: input.diff.truncated,
        omitted_files: input.diff.omitted_files,
        patch: Buffer.from(input.diff.patch_base64, "base64"),
        head_commit: input.head_commit ?? existing?.headCommit ?? input.base_commit,
      });
    }
    const removed = input.state && input.state !== "active";
    await tx
      .update(worktrees)
      .set({
        ...(input.state ? { state: input.state } : {}),
        ...(removed ? { removedAt: sql`coalesce(${worktrees.removedAt}, now())`, diskBytes: 0 } : {}),
        ...(input.ended ? { endedAt: new Date() } : {}),
        ...(input.disk_bytes !== undefined && !removed ? { diskBytes: input.disk_bytes } : {}),
        ...(input.applied_mode ? { appliedMode: input.applied_mode } : {}),
        ...(input.applied_commit ? { appliedCommit: input.applied_commit } : {}),
        ...(input.pushed_to ? { pushedTo: input.pushed_to } : {}),
        updatedAt: new Date(),
      })
      .where(eq(worktrees.id, input.worktree_id));
  });
  return { worktree_id: input.worktree_id, stored: true };
}
