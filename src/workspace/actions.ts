/**
 * What a user decides about a run's worktree, done where the worktree is: the
 * server's machine (services/worktrees/changes.ts) or a worker (the task the server
 * queued for it). Both go through here, so both do exactly the same.
 */
import { stat } from "node:fs/promises";
import { type ApplyMode, type ApplyOutcome, applyBranch, pushBranch } from "../git/apply.js";
import { commitAll, type WorktreeDiff, worktreeDiff } from "../git/diff.js";
import type { WorktreeManager, WorktreeRef } from "../git/worktrees.js";

export type WorktreeAction = { op: "apply"; mode: ApplyMode } | { op: "discard" } | { op: "push"; remote?: string };

export type ActionOutcome =
  | {
      op: "apply";
      outcome: ApplyOutcome /** The diff again, when the run had left changes uncommitted (its stored one misses them). */;
      diff: WorktreeDiff | null;
    }
  | { op: "discard" }
  | { op: "push"; remote: string };

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Applies (then removes the worktree, deleting the branch once merged), discards
 * (worktree and branch) or pushes the branch. Throws ApplyConflict or NoRemote
 * (git/apply.ts) when it cannot be done; nothing is changed then.
 */
export async function performWorktreeAction(
  manager: WorktreeManager,
  ref: WorktreeRef,
  action: WorktreeAction,
  message: string,
  maxPatchBytes: number,
): Promise<ActionOutcome> {
  if (action.op === "push") return { op: "push", remote: (await pushBranch(ref.repo, ref.branch, action.remote)).remote };
  if (action.op === "discard") {
    await manager.remove(ref, "force");
    return { op: "discard" };
  }
  // Whatever a run left uncommitted (it was lost in a crash, say) is part of what it changed.
  let diff: WorktreeDiff | null = null;
  if ((await exists(ref.path)) && (await commitAll(ref.path, `CodeTether: what ${ref.branch} left uncommitted`)).committed) {
    diff = await worktreeDiff(ref.path, ref.baseCommit, maxPatchBytes);
  }
  const outcome = await manager.locks.run(ref.repo, () =>
    applyBranch(ref.repo, { branch: ref.branch, baseCommit: ref.baseCommit, mode: action.mode, message }),
  );
  // Merged branches go (`git branch -d` keeps one that is not); uncommitted changes leave the branch for the record.
  await manager.remove(ref, action.mode === "uncommitted" ? undefined : "merged");
  return { op: "apply", outcome, diff };
}
