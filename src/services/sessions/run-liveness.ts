/**
 * A triggered run lives in the memory of the server process that started it. That
 * process stamps its running sessions every few seconds; a session still marked
 * running whose stamp has gone stale was lost with its process (a crash, kill -9,
 * a host gone): it is marked failed and its stream gets `error` and `complete`,
 * so no client waits for an end that will never come. A run's own end is recorded
 * only by the process that still owns it, so a run is never ended twice. The same
 * loop starts queued follow-ups on sessions left idle (see follow-ups.ts).
 */
import { and, eq, isNull, lt, ne, or, sql } from "drizzle-orm";
import { sessions } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { sweepFollowUps } from "./follow-ups.js";
import { triggerAgent } from "./trigger.js";

/** How often a process stamps its runs, and how old a stamp may get before its run counts as lost. */
const stampEveryMs = 5_000;
const lostAfterSeconds = 30;

/** Marks this process's running sessions as still alive. */
export async function stampRuns(ctx: ServiceContext): Promise<void> {
  await ctx.database.db
    .update(sessions)
    .set({ runHeartbeatAt: new Date() })
    .where(and(eq(sessions.runOwner, ctx.instanceId), eq(sessions.status, "running")));
}

/**
 * Fails running sessions no live process owns: stamped longer ago than
 * `olderThanSeconds`, or (with `othersNow`) owned by any process but this one,
 * which is right when no other process can share the database (PGlite).
 */
export async function failLostRuns(ctx: ServiceContext, options: { olderThanSeconds: number; othersNow?: boolean }): Promise<number> {
  const lost = await ctx.events.transaction(async (tx, append) => {
    const stale = or(isNull(sessions.runHeartbeatAt), lt(sessions.runHeartbeatAt, sql`now() - make_interval(secs => ${options.olderThanSeconds})`));
    const rows = await tx
      .select({ id: sessions.id, codebaseId: sessions.codebaseId, owner: sessions.runOwner })
      .from(sessions)
      .where(
        and(
          eq(sessions.status, "running"),
          options.othersNow ? or(ne(sessions.runOwner, ctx.instanceId), isNull(sessions.runOwner)) : stale,
          // A task's session lives as long as the task's lease; the lease sweep ends it when it is lost.
          sql`coalesce(${sessions.runOwner}, '') not like 'task:%'`,
        ),
      )
      .limit(100)
      .for("update", { skipLocked: true });
    const out = [];
    for (const row of rows) {
      const error = "The server process running this session stopped before it finished";
      await tx.update(sessions).set({ status: "failed", error, runOwner: null, runHeartbeatAt: null, updatedAt: new Date() }).where(eq(sessions.id, row.id));
      await append(row.codebaseId, [
        { type: "error", data: { session_id: row.id, name: "RunLost", message: error } },
        { type: "complete", data: { session_id: row.id, status: "failed", error } },
      ]);
      out.push(row.id);
    }
    return out;
  });
  return lost.length;
}

/** The loop that stamps this process's runs and fails lost ones. */
export class RunLiveness {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ctx: () => ServiceContext) {}

  /** On PGlite this process is the only one (the data-dir lock says so): every run still marked running was lost. */
  async start(): Promise<void> {
    const ctx = this.ctx();
    if (ctx.database.driver === "pglite") await failLostRuns(ctx, { olderThanSeconds: 0, othersNow: true });
    this.timer = setInterval(() => void this.tick(), stampEveryMs);
    this.timer.unref();
    // Follow-ups a restart left waiting start now, not a tick later.
    void this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    const ctx = this.ctx();
    try {
      await stampRuns(ctx);
      await failLostRuns(ctx, { olderThanSeconds: lostAfterSeconds });
      await sweepFollowUps(ctx, triggerAgent);
    } catch (err) {
      if (!ctx.shutdown.aborted) ctx.log.warn({ err }, "checking runs failed");
    }
  }
}
