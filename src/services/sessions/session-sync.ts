/**
 * Importing sessions made directly in OpenCode for a codebase's directory. Safe
 * to repeat: a second run with nothing new in OpenCode changes nothing.
 */
import path from "node:path";
import { eq } from "drizzle-orm";
import { ServiceError } from "../../contracts/errors.js";
import { sessions } from "../../db/schema.js";
import { workingDirectory } from "../../opencode/run-settings.js";
import { getCodebaseRow } from "../codebases/codebases.js";
import type { ServiceContext } from "../context.js";
import { listSessionRows, storeMessages, toSessions } from "./session-store.js";
import type { SyncResult } from "./sessions.types.js";

function inside(root: string, dir: string): boolean {
  const rel = path.relative(root, dir);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

export async function syncSessions({ ctx, codebaseId }: { ctx: ServiceContext; codebaseId: string }): Promise<SyncResult> {
  const codebase = await getCodebaseRow({ ctx, id: codebaseId });
  if (codebase.workerId) {
    throw new ServiceError("CONFLICT", `Codebase "${codebase.name}" lives on worker ${codebase.workerId}; its sessions cannot be read from here`);
  }
  const directory = workingDirectory(codebase);
  const client = await ctx.bridge.connection.ensure();
  // OpenCode lists the sessions of the whole project (git repository); keep this codebase's, top-level only.
  const found = (await client.listSessions(directory)).filter((s) => !s.parentID && inside(codebase.path, s.directory));

  let imported = 0;
  let updated = 0;
  let unchanged = 0;
  for (const oc of found) {
    const list = await client.messages(directory, oc.id);
    const outcome = await ctx.database.db.transaction(async (tx) => {
      const [row] = await tx.select().from(sessions).where(eq(sessions.id, oc.id));
      if (row && row.codebaseId !== codebaseId) return "unchanged"; // another codebase's session
      // A run of this server's (a trigger, or a task on its own runner) records its session itself.
      if (ctx.bridge.runner.isRunning(oc.id)) return "unchanged";
      if (!row) {
        await tx.insert(sessions).values({
          id: oc.id,
          codebaseId,
          title: oc.title,
          status: "idle",
          source: "imported",
          messageCount: list.length,
          createdAt: new Date(oc.time.created),
          updatedAt: new Date(oc.time.updated),
        });
        await storeMessages(tx, oc.id, list);
        return "imported";
      }
      const changed = await storeMessages(tx, oc.id, list);
      if (!changed && row.title === oc.title) return "unchanged";
      await tx
        .update(sessions)
        .set({ title: oc.title, messageCount: list.length, updatedAt: new Date(oc.time.updated) })
        .where(eq(sessions.id, oc.id));
      return "updated";
    });
    if (outcome === "imported") imported++;
    else if (outcome === "updated") updated++;
    else unchanged++;
  }
  return { imported, updated, unchanged, sessions: await toSessions(ctx, await listSessionRows(ctx, codebaseId)) };
}
