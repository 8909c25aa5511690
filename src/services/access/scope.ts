/**
 * A key limited to named codebases sees only those: lists are filtered in their
 * query, and an id outside the scope is "not found", so ids cannot be probed.
 */
import { inArray, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import { canSeeCodebase } from "../../contracts/access.js";
import { notFound } from "../../contracts/errors.js";
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
