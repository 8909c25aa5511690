/**
 * Worktrees do not pile up (peers' users report tens of GB of forgotten ones):
 * an ended run's worktree is removed after CODETETHER_WORKTREE_TTL_HOURS, and the
 * oldest ended ones first whenever a codebase's worktrees take more than
 * CODETETHER_WORKTREE_QUOTA_GB. Their branches stay, so nothing a run did is
 * lost: apply, push and resume work from the branch. At start-up, what a killed
 * process left in the repositories (stale locks, half-made worktrees) is cleared.
 */
import { and, asc, eq, isNull, ne, or, sql } from "drizzle-orm";
import { worktrees } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { localRunner, recordRemoved, toInfo, type WorktreeRow } from "./records.js";

const everyMs = 60_000;

/** Not running now: no session, or its session is not running. */
const notRunning = or(isNull(worktrees.sessionId), sql`not exists (select 1 from sessions s where s.id = ${worktrees.sessionId} and s.status = 'running')`);

async function removeOne(ctx: ServiceContext, row: WorktreeRow, why: string): Promise<void> {
  await ctx.worktrees.remove(toInfo(row)); // the branch stays
  await recordRemoved(ctx.database.db, row.id, "removed");
  ctx.log.info(
    { codebase_id: row.codebaseId, session_id: row.sessionId, worktree_id: row.id, branch: row.branch },
    `worktree removed (${why}); its branch stays`,
  );
}

/** Removes what the time to live and the quotas say should go; returns how many. */
export async function pruneWorktrees(ctx: ServiceContext, now = Date.now()): Promise<number> {
  const db = ctx.database.db;
  const { ttlHours, quotaBytes } = ctx.config.worktrees;
  const cutoff = new Date(now - ttlHours * 3_600_000);
  const kept = and(eq(worktrees.runner, localRunner), isNull(worktrees.removedAt), notRunning);
  let removed = 0;
  // A run that was lost (its process killed) has no ended_at: its last update counts.
  const expired = await db
    .select()
    .from(worktrees)
    .where(and(kept, sql`coalesce(${worktrees.endedAt}, ${worktrees.updatedAt}) < ${cutoff.toISOString()}::timestamptz`))
    .limit(100);
  for (const row of expired) {
    await removeOne(ctx, row, `ended more than ${ttlHours} h ago`).catch((err) =>
      ctx.log.warn({ err, worktree_id: row.id }, "removing an expired worktree failed"),
    );
    removed++;
  }
  const over = await db
    .select({ codebaseId: worktrees.codebaseId, bytes: sql<string>`sum(${worktrees.diskBytes})` })
    .from(worktrees)
    .where(and(eq(worktrees.runner, localRunner), isNull(worktrees.removedAt)))
    .groupBy(worktrees.codebaseId)
    .having(sql`sum(${worktrees.diskBytes}) > ${quotaBytes}`);
  for (const { codebaseId, bytes } of over) {
    let total = Number(bytes);
    const oldest = await db
      .select()
      .from(worktrees)
      .where(and(kept, eq(worktrees.codebaseId, codebaseId), ne(worktrees.state, "removed")))
      .orderBy(asc(sql`coalesce(${worktrees.endedAt}, ${worktrees.updatedAt})`));
    for (const row of oldest) {
      if (total <= quotaBytes) break;
      await removeOne(ctx, row, `the codebase's worktrees took more than ${quotaBytes} bytes`).catch((err) =>
        ctx.log.warn({ err, worktree_id: row.id }, "removing a worktree over the quota failed"),
      );
      total -= row.diskBytes ?? 0;
      removed++;
    }
  }
  return removed;
}

/**
 * After a crash: each repository this machine's runs used gets its stale locks
 * and half-made worktrees cleared, and rows of worktrees that are gone from disk
 * say so (their branches still hold the work).
 */
export async function recoverWorktrees(ctx: ServiceContext): Promise<void> {
  const db = ctx.database.db;
  const repos = await db
    .selectDistinct({ repo: worktrees.repoPath, codebaseId: worktrees.codebaseId })
    .from(worktrees)
    .where(and(eq(worktrees.runner, localRunner), isNull(worktrees.removedAt)));
  for (const { repo, codebaseId } of repos) {
    await ctx.worktrees.recover(repo, codebaseId).catch((err) => ctx.log.warn({ err, repo }, "recovering a repository's worktrees failed"));
  }
}

/** Runs recovery once and pruning every minute while the server runs. */
export function startWorktreeCleanup({ ctx }: { ctx: ServiceContext }): () => void {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await pruneWorktrees(ctx);
    } catch (err) {
      ctx.log.warn({ err }, "pruning worktrees failed; trying again later");
    } finally {
      running = false;
    }
  };
  void recoverWorktrees(ctx).catch((err) => ctx.log.warn({ err }, "recovering worktrees failed"));
  const first = setTimeout(() => void tick(), 10_000);
  const timer = setInterval(() => void tick(), everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
