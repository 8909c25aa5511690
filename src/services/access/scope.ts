/**
 * A key limited to named codebases sees only those: lists are filtered in their
 * query, and an id outside the scope is "not found", so ids cannot be probed.
 */
import { inArray, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import { canSeeCodebase } from "../../contracts/access.js";
import { notFound, ServiceError } from "../../contracts/errors.js";
import type { ServiceContext } from "../context.js";

/** The condition a list's codebase column must meet for `ctx`'s caller (none for an unlimited one). */
export function inCodebaseScope(ctx: ServiceContext, column: AnyPgColumn): SQL | undefined {
  const scope = ctx.caller?.codebases;
  if (!scope) return undefined;
  return scope.length > 0 ? inArray(column, [...scope]) : sql`false`;
}

/** Throws "<what> not found" unless `ctx`'s caller may see codebase `codebaseId`. */
export function assertInScope(ctx: ServiceContext, codebaseId: string, what: string): void {
  if (!canSeeCodebase(ctx.caller, codebaseId)) throw notFound(what);
}

/** Throws 403 unless `ctx`'s caller may speak for the worker `name` (a worker key may be limited to named workers). */
export function assertSpeaksFor(ctx: ServiceContext, name: string): void {
  const allowed = ctx.caller?.workers;
  if (allowed && !allowed.includes(name)) {
    throw new ServiceError("FORBIDDEN", `Forbidden: this key speaks for the workers ${allowed.join(", ")} only, not "${name}"`);
  }
}

/** Who to record as a new record's creator: the user of the key (by name), or null for the built-in key and an open server. */
export const createdBy = (ctx: ServiceContext): string | null => (ctx.caller?.kind === "key" ? ctx.caller.userName : null);
