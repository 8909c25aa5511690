/** Reading and writing session rows and their messages. */
import { and, asc, desc, eq, inArray, sql } from "drizzle-orm";
import { notFound } from "../../contracts/errors.js";
import type { Db } from "../../db/client.js";
import { messages, sessions } from "../../db/schema.js";
import { storableJson, storableText } from "../../db/storable.js";
import type { OcMessage } from "../../opencode/client.js";
import { inCodebaseScope } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import { cutTimedPage, decodeCursor, defaultPageItems, exactTime, type Page, type PageQuery, pastKey, searchQuery, TimeIdKey } from "../paging.js";
import { noUsage, usageOf } from "../usage/usage.js";
import type { Usage } from "../usage/usage.types.js";
import { summariesBySession } from "../worktrees/records.js";
import type { WorktreeSummary } from "../worktrees/worktrees.types.js";
import { listQueued } from "./follow-ups.js";
import type { ListSessionsQuery, Message, Session, SessionDetail } from "./sessions.types.js";

type SessionRow = typeof sessions.$inferSelect;
type MessageRow = typeof messages.$inferSelect;

function toSession(row: SessionRow, cost = 0, usage: Usage = noUsage, worktree: WorktreeSummary | null = null): Session {
  return {
    id: row.id,
    codebase_id: row.codebaseId,
    title: row.title,
    agent: row.agent,
    model: row.model,
    status: row.status as Session["status"],
    source: row.source as Session["source"],
    error: row.error,
    message_count: row.messageCount,
    cost,
    usage,
    worktree,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    role: row.role,
    text: row.text,
    parts: row.parts,
    tokens: row.tokens ?? null,
    cost: row.cost === null ? null : Number(row.cost),
    created_at: row.createdAt.toISOString(),
  };
}

/** Sessions as clients see them, each with the cost of its stored messages, its usage totals and its worktree (three queries for all). */
export async function toSessions(ctx: ServiceContext, rows: SessionRow[]): Promise<Session[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [usage, worktrees] = await Promise.all([usageOf(ctx, "session", ids), summariesBySession(ctx, ids)]);
  const costs = await ctx.database.db
    .select({ sessionId: messages.sessionId, cost: sql<string>`coalesce(sum(${messages.cost}::numeric), 0)` })
    .from(messages)
    .where(
      inArray(
        messages.sessionId,
        rows.map((r) => r.id),
      ),
    )
    .groupBy(messages.sessionId);
  const bySession = new Map(costs.map((c) => [c.sessionId, Number(c.cost)]));
  return rows.map((r) => toSession(r, bySession.get(r.id) ?? 0, usage.get(r.id), worktrees.get(r.id) ?? null));
}

export async function listSessionRows(ctx: ServiceContext, codebaseId: string): Promise<SessionRow[]> {
  return ctx.database.db.select().from(sessions).where(eq(sessions.codebaseId, codebaseId)).orderBy(desc(sessions.updatedAt), desc(sessions.id));
}

/**
 * A page of sessions, most recently active first (a session that runs again moves to the top): of one codebase,
 * or of every codebase the caller may see, optionally in one status.
 */
export async function pageSessions(ctx: ServiceContext, where: { codebaseId?: string; status?: string }, query: ListSessionsQuery): Promise<Page<Session>> {
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, TimeIdKey);
  const words = searchQuery(query.q);
  const rows = await ctx.database.db
    .select({ row: sessions, at: exactTime(sessions.updatedAt) })
    .from(sessions)
    .where(
      and(
        where.codebaseId ? eq(sessions.codebaseId, where.codebaseId) : inCodebaseScope(ctx, sessions.codebaseId),
        where.status ? eq(sessions.status, where.status) : undefined,
        words ? sql`to_tsvector('simple', ${sessions.title}) @@ to_tsquery('simple', ${words})` : undefined,
        pastKey(sessions.updatedAt, sessions.id, after, "<"),
      ),
    )
    .orderBy(desc(sessions.updatedAt), desc(sessions.id))
    .limit(limit + 1);
  const page = cutTimedPage(rows, limit);
  return { items: await toSessions(ctx, page.items), next_cursor: page.next_cursor };
}

export async function getSessionRow(ctx: ServiceContext, codebaseId: string, sessionId: string): Promise<SessionRow> {
  const [row] = await ctx.database.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.id, sessionId), eq(sessions.codebaseId, codebaseId)));
  if (!row) throw notFound("Session");
  return row;
}

/**
 * A session's answer holds at most this much of its transcript, the newest
 * messages (`messages_truncated` says when there is more); `pageMessages` reads all of it.
 */
const detailMessages = 1000;
const detailBytes = 4 * 1024 * 1024;

export async function sessionDetail(ctx: ServiceContext, row: SessionRow): Promise<SessionDetail> {
  const [session] = await toSessions(ctx, [row]);
  const newest = await ctx.database.db
    .select()
    .from(messages)
    .where(eq(messages.sessionId, row.id))
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(detailMessages + 1);
  const kept: Message[] = [];
  let bytes = 0;
  for (const r of newest.slice(0, detailMessages)) {
    const m = toMessage(r);
    bytes += Buffer.byteLength(JSON.stringify(m));
    if (kept.length > 0 && bytes > detailBytes) break;
    kept.push(m);
  }
  return { ...session!, messages: kept.reverse(), messages_truncated: kept.length < newest.length, queued: await listQueued(ctx, row.id, true) };
}

/** A page of a session's messages, oldest first (the whole transcript, however long). */
export async function pageMessages(ctx: ServiceContext, sessionId: string, query: PageQuery): Promise<Page<Message>> {
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, TimeIdKey);
  const rows = await ctx.database.db
    .select({ row: messages, at: exactTime(messages.createdAt) })
    .from(messages)
    .where(and(eq(messages.sessionId, sessionId), pastKey(messages.createdAt, messages.id, after, ">")))
    .orderBy(asc(messages.createdAt), asc(messages.id))
    .limit(limit + 1);
  return cutTimedPage(rows, limit, toMessage);
}

/** JSON with object keys sorted: jsonb hands keys back in its own order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The plain text of a message: its text parts joined. */
function messageText(m: OcMessage): string {
  return m.parts
    .filter((p) => p.type === "text" && typeof p.text === "string" && !p.synthetic)
    .map((p) => p.text)
    .join("");
}

/**
 * Replaces a session's stored messages with OpenCode's current list. Returns
 * whether anything changed, so a repeated sync can say it changed nothing.
 */
export async function storeMessages(tx: Db, sessionId: string, list: OcMessage[]): Promise<boolean> {
  const existing = await tx.select({ id: messages.id, text: messages.text, parts: messages.parts }).from(messages).where(eq(messages.sessionId, sessionId));
  const wanted = new Set(list.map((m) => m.info.id));
  const stale = existing.filter((m) => !wanted.has(m.id)).map((m) => m.id);
  if (stale.length > 0) await tx.delete(messages).where(inArray(messages.id, stale));
  const changed = await upsertMessages(tx, sessionId, list, existing);
  return changed || existing.length !== list.length;
}

/**
 * Adds or updates these messages of a session, leaving the others (a worker sends
 * what changed since its last upload). Idempotent: the same list again writes nothing.
 */
export async function upsertMessages(
  tx: Db,
  sessionId: string,
  list: OcMessage[],
  existing?: { id: string; text: string; parts: unknown[] }[],
): Promise<boolean> {
  if (list.length === 0) return false;
  const before =
    existing ??
    (await tx
      .select({ id: messages.id, text: messages.text, parts: messages.parts })
      .from(messages)
      .where(
        and(
          eq(messages.sessionId, sessionId),
          inArray(
            messages.id,
            list.map((m) => m.info.id),
          ),
        ),
      ));
  const known = new Map(before.map((m) => [m.id, m]));
  let changed = false;
  for (const m of list) {
    const text = storableText(messageText(m));
    const parts = storableJson(m.parts as unknown[]);
    const previous = known.get(m.info.id);
    if (previous && previous.text === text && canonical(previous.parts) === canonical(parts)) continue;
    changed = true;
    const values = {
      role: m.info.role,
      text,
      parts,
      tokens: (m.info.tokens as Record<string, unknown> | undefined) ?? null,
      cost: m.info.cost === undefined ? null : String(m.info.cost),
    };
    await tx
      .insert(messages)
      .values({ id: m.info.id, sessionId, createdAt: new Date(m.info.time.created), ...values })
      // Never another session's message, whatever a runner sends.
      .onConflictDoUpdate({ target: messages.id, set: values, setWhere: sql`${messages.sessionId} = ${sessionId}` });
  }
  return changed;
}

/**
 * Copies a finished session's messages from this process's OpenCode into the
 * database, so the session can be read after OpenCode forgot it. Best effort:
 * the outcome is already recorded; only the transcript would be missing.
 */
export async function recordMessages({ ctx, sessionId, directory }: { ctx: ServiceContext; sessionId: string; directory: string }): Promise<void> {
  const client = await ctx.bridge.connection.ensure();
  const list = await client.messages(directory, sessionId);
  await ctx.database.db.transaction(async (tx) => {
    await storeMessages(tx, sessionId, list);
    await tx.update(sessions).set({ messageCount: list.length }).where(eq(sessions.id, sessionId));
  });
}
