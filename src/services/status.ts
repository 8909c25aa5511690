/** `GET /v1/opencode/status`: is the OpenCode CLI here, which one, and how much is registered. */
import { z } from "@hono/zod-openapi";
import { and, eq, isNull, sql } from "drizzle-orm";
import { worktrees } from "../db/schema.js";
import { chooseOpencodeBinary } from "../opencode/binary.js";
import { countCodebases } from "./codebases/codebases.js";
import type { ServiceContext } from "./context.js";
import { localRunner } from "./worktrees/records.js";

export const Status = z
  .object({
    available: z.boolean(),
    opencode_binary: z.string().nullable(),
    opencode_version: z.string().nullable(),
    registered_codebases: z.number().int(),
    database: z.enum(["postgres", "pglite"]).openapi({ description: "Where the server keeps its data: a Postgres server, or the embedded PGlite" }),
    message: z.string().optional(),
    opencode_server: z
      .object({
        mode: z.enum(["external", "managed", "none"]),
        state: z.enum(["idle", "connecting", "starting", "ready", "restarting", "failed", "stopped"]),
        url: z.string().nullable(),
        pid: z.number().int().nullable(),
        version: z.string().nullable(),
        restarts: z.number().int(),
        last_error: z.string().nullable(),
      })
      .openapi({ description: "The `opencode serve` the bridge uses: external, started by us (managed), or none yet" }),
    worktrees: z
      .object({
        dir: z.string().openapi({ description: "Where this server makes its runs' worktrees (CODETETHER_WORKTREE_DIR)" }),
        count: z.number().int().openapi({ description: "Worktrees of runs kept on this server's machine" }),
        disk_bytes: z.number().int().openapi({ description: "What they take on disk, as measured when each run ended" }),
        pooled: z.number().int().openapi({ description: "Worktrees prepared ahead of runs (CODETETHER_WORKTREE_POOL per repository)" }),
        ttl_hours: z.number(),
        quota_bytes: z.number().int().openapi({ description: "Per codebase (CODETETHER_WORKTREE_QUOTA_GB)" }),
      })
      .openapi({ description: "Runs' worktrees on this machine" }),
    opencode_skipped: z.object({ binary: z.string(), version: z.string(), message: z.string() }).nullable().openapi({
      description: "An `opencode` found first (PATH, OPENCODE_BIN) that is OpenCode 2.x or later, passed over for the pinned 1.x; null when none was",
    }),
  })
  .openapi("Status");
export type Status = z.infer<typeof Status>;

export async function getStatus({ ctx }: { ctx: ServiceContext }): Promise<Status> {
  const [{ binary, version, skipped }, registered, [kept]] = await Promise.all([
    chooseOpencodeBinary(ctx.config.opencode.binary),
    countCodebases({ ctx }),
    ctx.database.db
      .select({ n: sql<number>`count(*)::int`, bytes: sql<string>`coalesce(sum(${worktrees.diskBytes}), 0)` })
      .from(worktrees)
      .where(and(eq(worktrees.runner, localRunner), isNull(worktrees.removedAt))),
  ]);
  const server = ctx.bridge.connection.status();
  const available = (binary !== null && version !== null) || (server.mode === "external" && server.state === "ready");
  return {
    available,
    opencode_binary: binary,
    opencode_version: version,
    registered_codebases: registered,
    database: ctx.database.driver,
    opencode_server: server,
    worktrees: {
      dir: ctx.worktrees.root,
      count: Number(kept?.n ?? 0),
      disk_bytes: Number(kept?.bytes ?? 0),
      pooled: ctx.worktrees.pooled(),
      ttl_hours: ctx.config.worktrees.ttlHours,
      quota_bytes: ctx.config.worktrees.quotaBytes,
    },
    opencode_skipped: skipped && {
      ...skipped,
      message: `${skipped.binary} is OpenCode ${skipped.version}, whose API this CodeTether does not speak yet: the pinned ${binary} (${version}) runs instead`,
    },
    ...(available ? {} : { message: "OpenCode bridge not available" }),
  };
}

export const Readiness = z
  .object({
    status: z.enum(["ready", "unavailable"]),
    database: z.string().openapi({ description: "`ok`, or why it cannot be used" }),
    opencode: z.string().openapi({ description: "`ok`, or the bridge's state (starting, restarting, failed, …) and its last error" }),
  })
  .openapi("Readiness");
export type Readiness = z.infer<typeof Readiness>;

/** Whether this process can serve work now: its database answers and its OpenCode is up. Bounded to about a second. */
export async function getReadiness({ ctx }: { ctx: ServiceContext }): Promise<Readiness> {
  const database = ctx.database.circuit?.isOpen()
    ? "unreachable (the circuit is open; probing)"
    : await Promise.race([
        ctx.database.db.execute(sql`select 1`).then(
          () => "ok",
          (err: Error) => `unreachable: ${err.message.slice(0, 200)}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve("no answer within 1 s"), 1000).unref()),
      ]);
  const oc = ctx.bridge.connection.status();
  const opencode = oc.state === "ready" ? "ok" : `${oc.state}${oc.last_error ? `: ${oc.last_error.slice(0, 200)}` : ""}`;
  return { status: database === "ok" && opencode === "ok" ? "ready" : "unavailable", database, opencode };
}
