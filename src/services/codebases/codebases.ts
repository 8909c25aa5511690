/**
 * Codebase verbs. A codebase is a directory an agent works in: on this machine,
 * or on a worker (`worker_id`), whose paths this server cannot check.
 */
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { and, asc, count, eq, isNull } from "drizzle-orm";
import type { AgentConfig } from "../../contracts/agent-config.js";
import { conflict, invalid, isUniqueViolation, notFound } from "../../contracts/errors.js";
import { preparedPerDatabase, value } from "../../db/compiled.js";
import { codebases, worktrees } from "../../db/schema.js";
import { repositoryOf } from "../../git/repo.js";
import { audited, recordAudit } from "../access/audit.js";
import { assertInScope, createdBy, inCodebaseScope } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import { EventLog } from "../events/log.js";
import { cutTimedPage, decodeCursor, defaultPageItems, exactTime, type Page, type PageQuery, pastKey, TimeIdKey } from "../paging.js";
import { runsInFlight } from "../sessions/in-flight.js";
import { noUsage, usageOf } from "../usage/usage.js";
import type { Usage } from "../usage/usage.types.js";
import { localRunner, toInfo, worktreeUse } from "../worktrees/records.js";
import type { Codebase, CreateCodebaseRequest, UpdateCodebaseRequest } from "./codebases.types.js";
import { isInside, realInside } from "./paths.js";

type Row = typeof codebases.$inferSelect;

/** What a codebase answer adds to the row: spend, runs in flight, worktrees on disk. */
export interface CodebaseExtras {
  usage: Usage;
  runsInFlight: number;
  worktrees: { count: number; disk_bytes: number };
}

const noExtras: CodebaseExtras = { usage: noUsage, runsInFlight: 0, worktrees: { count: 0, disk_bytes: 0 } };

/** The isolation the codebase's runs get, as far as this server knows (see `Codebase.isolation`). */
function isolationOf(row: Row): "worktree" | "none" | null {
  const setting = row.agentConfig.isolation;
  if (setting === "none") return "none";
  if (row.vcs === "git") return "worktree";
  if (row.vcs === "none") return "none";
  return setting ?? null;
}

function toCodebase(row: Row, extras: CodebaseExtras = noExtras): Codebase {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    description: row.description,
    worker_id: row.workerId,
    agent_config: row.agentConfig,
    usage: extras.usage,
    isolation: isolationOf(row),
    runs_in_flight: extras.runsInFlight,
    worktrees: extras.worktrees,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Checks what the schema cannot: directories exist here, and working_directory stays inside path. */
async function checkPaths(codebasePath: string, workerId: string | null, config: AgentConfig): Promise<void> {
  const wd = config.working_directory;
  if (wd !== undefined && !isInside(codebasePath, wd)) {
    throw invalid(`agent_config.working_directory must be inside path (${codebasePath})`);
  }
  if (workerId) return; // the worker's own file system; it checks its paths itself
  if (!(await isDirectory(codebasePath))) {
    throw invalid(`path is not an existing directory on this server: ${codebasePath}`);
  }
  if (wd !== undefined && !(await isDirectory(wd))) {
    throw invalid(`agent_config.working_directory is not an existing directory: ${wd}`);
  }
  // A symlink inside the codebase may point anywhere: what counts is where it leads.
  if (wd !== undefined && !(await realInside(codebasePath, wd))) {
    throw invalid(`agent_config.working_directory leads outside path (${codebasePath}) through a symlink: ${wd}`);
  }
}

function nameTaken(name: string) {
  return conflict(`A codebase named "${name}" already exists`);
}

/** A page of the codebases, oldest first (so new ones land on the last page). */
export async function listCodebases({ ctx, query = {} }: { ctx: ServiceContext; query?: PageQuery }): Promise<Page<Codebase>> {
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, TimeIdKey);
  const rows = await ctx.database.db
    .select({ row: codebases, at: exactTime(codebases.createdAt) })
    .from(codebases)
    .where(and(pastKey(codebases.createdAt, codebases.id, after, ">"), inCodebaseScope(ctx, codebases.id)))
    .orderBy(asc(codebases.createdAt), asc(codebases.id))
    .limit(limit + 1);
  const page = cutTimedPage(rows, limit);
  return { items: await withExtras(ctx, page.items), next_cursor: page.next_cursor };
}

/** Codebase answers for rows: their spend, runs in flight and worktrees (three queries for all). */
async function withExtras(ctx: ServiceContext, rows: Row[]): Promise<Codebase[]> {
  const ids = rows.map((r) => r.id);
  const [usage, inFlight, use] = await Promise.all([usageOf(ctx, "codebase", ids), runsInFlight(ctx, ids), worktreeUse(ctx, ids)]);
  return rows.map((r) =>
    toCodebase(r, {
      usage: usage.get(r.id) ?? noUsage,
      runsInFlight: inFlight.get(r.id) ?? 0,
      worktrees: use.get(r.id) ?? { count: 0, disk_bytes: 0 },
    }),
  );
}

export async function countCodebases({ ctx }: { ctx: ServiceContext }): Promise<number> {
  const [row] = await ctx.database.db.select({ n: count() }).from(codebases).where(inCodebaseScope(ctx, codebases.id));
  return row?.n ?? 0;
}

/** Reads the stored row; the other domains use it to route work. */
export async function getCodebaseRow({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<Row> {
  assertInScope(ctx, id, "Codebase");
  const [row] = await codebaseById(ctx.database.db).execute({ id });
  if (!row) throw notFound("Codebase");
  return row;
}

/** Every task created and every run started reads its codebase first. */
const codebaseById = preparedPerDatabase((db) =>
  db
    .select()
    .from(codebases)
    .where(eq(codebases.id, value("id")))
    .prepare("codebase_by_id"),
);

export async function getCodebase(args: { ctx: ServiceContext; id: string }): Promise<Codebase> {
  return withUsage(args.ctx, await getCodebaseRow(args));
}

async function withUsage(ctx: ServiceContext, row: Row): Promise<Codebase> {
  return (await withExtras(ctx, [row]))[0]!;
}

/**
 * Whether a codebase on this machine is a git repository (with a commit), noted on
 * its row; its repository gets a worktree prepared for its first run.
 */
async function lookAtRepository(ctx: ServiceContext, row: Row): Promise<Row> {
  if (row.workerId) return row;
  const repo = await repositoryOf(row.path);
  if (row.agentConfig.isolation !== "none" && repo?.head) ctx.worktrees.refill(repo.root, row.id);
  return noteVersioned(ctx, row, Boolean(repo?.head));
}

/** Notes on the codebase's row whether git versions it with a commit (its answer's `isolation` follows it). */
export async function noteVersioned(ctx: ServiceContext, row: Row, versioned: boolean): Promise<Row> {
  const vcs = versioned ? "git" : "none";
  if (row.vcs === vcs) return row;
  const [updated] = await ctx.database.db.update(codebases).set({ vcs }).where(eq(codebases.id, row.id)).returning();
  return updated ?? row;
}

export async function createCodebase({ ctx, input }: { ctx: ServiceContext; input: CreateCodebaseRequest }): Promise<Codebase> {
  const agentConfig = input.agent_config ?? {};
  const workerId = input.worker_id ?? null;
  await checkPaths(input.path, workerId, agentConfig);
  try {
    const row = await audited(
      ctx,
      async (tx) =>
        (
          await tx
            .insert(codebases)
            .values({
              id: randomUUID(),
              name: input.name,
              path: input.path,
              description: input.description ?? "",
              workerId,
              agentConfig,
              createdBy: createdBy(ctx),
            })
            .returning()
        )[0]!,
      (r) => ({ action: "codebase.create", targetType: "codebase", targetId: r.id, detail: { name: r.name, path: r.path } }),
    );
    return toCodebase(await lookAtRepository(ctx, row));
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(input.name);
    throw err;
  }
}

export async function updateCodebase({ ctx, id, input }: { ctx: ServiceContext; id: string; input: UpdateCodebaseRequest }): Promise<Codebase> {
  const current = await getCodebaseRow({ ctx, id });
  const next = {
    name: input.name ?? current.name,
    path: input.path ?? current.path,
    description: input.description ?? current.description,
    workerId: input.worker_id === undefined ? current.workerId : input.worker_id,
    agentConfig: input.agent_config ?? current.agentConfig,
  };
  await checkPaths(next.path, next.workerId, next.agentConfig);
  try {
    const row = await audited(
      ctx,
      async (tx) => {
        const [updated] = await tx
          .update(codebases)
          .set({ ...next, updatedAt: new Date() })
          .where(eq(codebases.id, id))
          .returning();
        if (!updated) throw notFound("Codebase");
        return updated;
      },
      () => ({ action: "codebase.update", targetType: "codebase", targetId: id, detail: { fields: Object.keys(input) } }),
    );
    return await withUsage(ctx, next.path !== current.path || next.workerId !== current.workerId ? await lookAtRepository(ctx, row) : row);
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(next.name);
    throw err;
  }
}

/** Deletes the codebase with its sessions, tasks and events, and the worktrees of its runs here (their branches stay). */
export async function deleteCodebase({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<{ id: string; deleted: true }> {
  assertInScope(ctx, id, "Codebase");
  const kept = await ctx.database.db
    .select()
    .from(worktrees)
    .where(and(eq(worktrees.codebaseId, id), eq(worktrees.runner, localRunner), isNull(worktrees.removedAt)));
  const deleted = await ctx.database.db.transaction(async (tx) => {
    const rows = await tx.delete(codebases).where(eq(codebases.id, id)).returning({ id: codebases.id, name: codebases.name });
    if (rows.length > 0) {
      await EventLog.deleteStream(tx, id);
      await recordAudit(tx, ctx, { action: "codebase.delete", targetType: "codebase", targetId: id, detail: { name: rows[0]!.name } });
    }
    return rows;
  });
  if (deleted.length === 0) throw notFound("Codebase");
  for (const row of kept)
    await ctx.worktrees.remove(toInfo(row)).catch((err) => ctx.log.warn({ err, worktree_id: row.id }, "removing a deleted codebase's worktree failed"));
  return { id, deleted: true };
}
