/**
 * The session an attempt of a task runs: owned by the task (`run_owner
 * task:<id>`), so its liveness is the task's lease; ended when the attempt is lost
 * or handed back.
 */
import { and, eq, type SQL, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { sessions } from "../../db/schema.js";

/** The `run_owner` of a session a task's runner is running (its liveness is the task's lease). */
export const taskOwner = (taskId: string) => `task:${taskId}`;
/** `taskOwner` in a statement's text, of the task id `taskId` selects. */
export const taskOwnerOf = (taskId: SQL) => sql`('task:' || ${taskId})`;

/** Ends the session of a task's attempt that did not complete (lost, handed back), if it is still marked running. */
export async function endTaskSession(tx: Db, taskId: string, status: "failed" | "aborted", error: string): Promise<void> {
  await tx
    .update(sessions)
    .set({ status, error, runOwner: null, runHeartbeatAt: null, updatedAt: new Date() })
    .where(and(eq(sessions.runOwner, taskOwner(taskId)), eq(sessions.status, "running")));
}
