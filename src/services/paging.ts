/**
 * Keyset paging, shared by every list: a page is at most `limit` items and at
 * most `maxPageBytes` of JSON, and its cursor names the last item's position in
 * the list's own order, so rows inserted meanwhile neither repeat nor shift items
 * (an offset would). Cursors are opaque to clients: base64url of a JSON array.
 */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import { z } from "zod";
import { ServiceError } from "../contracts/errors.js";

export const defaultPageItems = 100;
const maxPageItems = 500;
/** A page stops early once its items add up to this much JSON (it always holds at least one). */
const maxPageBytes = 1024 * 1024;

export const PageQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(maxPageItems)
    .optional()
    .openapi({ description: `Items per page (1-${maxPageItems}, default ${defaultPageItems}); a page also stops at about 1 MiB of JSON` }),
  cursor: z
    .string()
    .max(1000)
    .optional()
    .openapi({ description: "Continue after the previous page: the `next_cursor` (or `X-Next-Cursor` header) it answered" }),
});
export type PageQuery = z.infer<typeof PageQuery>;

export interface Page<T> {
  items: T[];
  /** Pass it as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      next_cursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page; null on the last page" }),
    })
    .openapi(name);
}

function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The key a cursor names, checked against the list's key shape; a cursor from elsewhere is a 400. */
export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, shape: T): z.infer<T> | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  try {
    const parsed = shape.safeParse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
    if (parsed.success) return parsed.data;
  } catch {
    // falls through to the 400
  }
  throw new ServiceError("BAD_REQUEST", "cursor is not one this list answered: pass the next_cursor of its previous page");
}

/**
 * Cuts rows read with `limit + 1` to a page: at most `limit` items and about
 * `maxPageBytes` of JSON. The next cursor is the last kept row's key, when more follow.
 */
export function cutPage<R, T>(rows: readonly R[], limit: number, toItem: (row: R) => T, keyOf: (row: R) => (string | number)[]): Page<T> {
  const items: T[] = [];
  let bytes = 0;
  for (const row of rows.slice(0, limit)) {
    const item = toItem(row);
    bytes += Buffer.byteLength(JSON.stringify(item));
    if (items.length > 0 && bytes > maxPageBytes) break;
    items.push(item);
  }
  const more = rows.length > items.length;
  return { items, next_cursor: more && items.length > 0 ? encodeCursor(keyOf(rows[items.length - 1]!)) : null };
}

/**
 * `cutPage` for rows read as `{ row, at: exactTime(...) }` of a list ordered by
 * that time and the row's id (most lists): the key is [at, id].
 */
export function cutTimedPage<R extends { id: string }, T = R>(
  rows: readonly { row: R; at: string }[],
  limit: number,
  toItem: (row: R) => T = (row) => row as unknown as T,
): Page<T> {
  return cutPage(
    rows,
    limit,
    (r) => toItem(r.row),
    (r) => [r.at, r.row.id],
  );
}

/** Where a time-and-id keyset continues: rows after (`>`, ascending lists) or before (`<`, descending) the cursor's key. */
export function pastKey(time: AnyPgColumn, id: AnyPgColumn, key: [string, string] | undefined, direction: ">" | "<"): SQL | undefined {
  if (!key) return undefined;
  return sql`(${time}, ${id}) ${sql.raw(direction)} (${key[0]}::timestamptz, ${key[1]})`;
}

/** A timestamp column as text with its full microseconds (a JS Date keeps only milliseconds: not enough for a key). */
export function exactTime(column: AnyPgColumn): SQL<string> {
  return sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** A timestamp as `exactTime` writes it, in a cursor. */
export const ExactTime = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
  // A real instant (no month 13), so the database never sees a time it cannot read.
  .refine((s) => {
    const ms = Date.parse(`${s.slice(0, 23)}Z`);
    return Number(s.slice(0, 4)) >= 1 && !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 23) === s.slice(0, 23);
  });
/** Key parts as a cursor stores them: an exact timestamp text and an id. */
export const TimeIdKey = z.tuple([ExactTime, z.string().max(200)]);

/**
 * `q` as a full-text query: each word a prefix, all of them required (`fix log` finds "Fixed the logger").
 * Undefined when `q` has no word in it.
 */
export function searchQuery(q: string | undefined): string | undefined {
  const words = (q ?? "")
    .toLowerCase()
    .match(/[\p{L}\p{N}_]+/gu)
    ?.slice(0, 16);
  return words && words.length > 0 ? words.map((w) => `${w}:*`).join(" & ") : undefined;
}
