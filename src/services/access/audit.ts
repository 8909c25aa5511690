/**
 * The audit trail: one row per change, written in the change's own transaction
 * (so a change that rolls back leaves no row, and none is ever missing), read by admins.
 */
import { and, desc, eq, lt, type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../../db/client.js";
import { value } from "../../db/compiled.js";
import { auditLog } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { cutPage, decodeCursor, defaultPageItems, type Page } from "../paging.js";
import type { AuditEntry, AuditQuery } from "./access.types.js";

export interface AuditRecord {
  action: string;
  targetType: string;
  targetId: string | null;
  detail?: Record<string, unknown>;
}

/** Appends `record` as done by `ctx`'s caller, inside `tx` (the change's transaction). */
export async function recordAudit(tx: Db, ctx: ServiceContext, record: AuditRecord): Promise<void> {
  await recordAudits(tx, ctx, [record]);
}

/** Appends several records in one statement (a batch of changes made by one request). */
async function recordAudits(tx: Db, ctx: ServiceContext, records: readonly AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await tx.insert(auditLog).values(auditRows(ctx, records));
}

/**
 * The audit rows as a CTE for the change's own statement (`db.with(auditing(…)).insert(…)`): a change whose
 * records are known before it runs is written with them in one statement, atomic without a transaction's
 * begin and commit. Postgres runs a data-modifying CTE to completion whether or not the statement reads it.
 */
export function auditing(db: Db, ctx: ServiceContext, records: readonly AuditRecord[]) {
  return db.$with("audited", {}).as(db.insert(auditLog).values(auditRows(ctx, records)).getSQL());
}

/**
 * `auditing` for a compiled statement (see db/compiled.ts): the CTE `audited` writes the rows of its `audit` value
 * (`auditValue`), when `when` holds (SQL of the statement's text: the change was made).
 */
export const auditCte = (when: SQL = sql`true`) => sql`audited as (
    insert into audit_log (actor, user_id, key_id, request_id, action, target_type, target_id, detail)
    select a.actor, a.user_id, a.key_id, a.request_id, a.action, a.target_type, a.target_id, a.detail
    from jsonb_to_recordset(${value("audit")}::jsonb) as a(actor text, user_id text, key_id text, request_id text, action text, target_type text, target_id text, detail jsonb)
    where ${when}
  )`;

/** The `audit` value of `auditCte`. */
export function auditValue(ctx: ServiceContext, records: readonly AuditRecord[]): string {
  return JSON.stringify(auditRows(ctx, records).map(auditColumns));
}

/** An audit row (as drizzle names its fields) by its columns' names, as the table and the API both write them. */
function auditColumns(r: Omit<typeof auditLog.$inferSelect, "id" | "at">) {
  return {
    actor: r.actor,
    user_id: r.userId,
    key_id: r.keyId,
    request_id: r.requestId,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    detail: r.detail,
  };
}

function auditRows(ctx: ServiceContext, records: readonly AuditRecord[]) {
  const caller = ctx.caller;
  return records.map((record) => ({
    actor: caller?.kind ?? "system",
    userId: caller?.userId ?? null,
    keyId: caller?.keyId ?? null,
    requestId: ctx.requestId ?? null,
    action: record.action,
    targetType: record.targetType,
    targetId: record.targetId,
    detail: record.detail ?? {},
  }));
}

/** Runs `change` and its audit row in one transaction. */
export function audited<T>(ctx: ServiceContext, change: (tx: Db) => Promise<T>, record: (result: T) => AuditRecord): Promise<T> {
  return ctx.database.db.transaction(async (tx) => {
    const result = await change(tx);
    await recordAudit(tx, ctx, record(result));
    return result;
  });
}

const AuditCursor = z.tuple([z.number().int()]);

/** A page of the audit trail, newest first, filtered as asked. */
export async function listAudit({ ctx, query }: { ctx: ServiceContext; query: AuditQuery }): Promise<Page<AuditEntry>> {
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, AuditCursor);
  const filters: (SQL | undefined)[] = [
    after ? lt(auditLog.id, after[0]) : undefined,
    query.action ? eq(auditLog.action, query.action) : undefined,
    query.target_type ? eq(auditLog.targetType, query.target_type) : undefined,
    query.target_id ? eq(auditLog.targetId, query.target_id) : undefined,
    query.user_id ? eq(auditLog.userId, query.user_id) : undefined,
  ];
  const rows = await ctx.database.db
    .select()
    .from(auditLog)
    .where(and(...filters))
    .orderBy(desc(auditLog.id))
    .limit(limit + 1);
  return cutPage(
    rows,
    limit,
    (r) => ({ id: r.id, at: r.at.toISOString(), ...auditColumns(r), actor: r.actor as AuditEntry["actor"] }),
    (r) => [r.id],
  );
}
