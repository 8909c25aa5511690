/**
 * Who is calling and what they may do: the roles, what each route, procedure and tool
 * needs (its access), and the caller every verb may look at. One place, so REST, tRPC
 * and MCP refuse the same things with the same words.
 */
import { z } from "zod";

export const roles = ["admin", "member", "viewer", "worker"] as const;
export const Role = z
  .enum(roles)
  .describe(
    "`admin`: everything, users and keys included; `member`: run agents and manage codebases and tasks; `viewer`: read only; `worker`: only the worker protocol",
  );
export type Role = z.infer<typeof Role>;

/**
 * What a route needs: `read` (lists, streams, reports), `write` (changes: create, trigger,
 * abort, apply, ...), `admin` (users, keys, the audit log), `worker` (the worker protocol).
 */
export type Access = "read" | "write" | "admin" | "worker";

const grants: Record<Role, readonly Access[]> = {
  admin: ["read", "write", "admin", "worker"],
  member: ["read", "write"],
  viewer: ["read"],
  worker: ["worker"],
};

/** The least role that has `access`, for the refusal's words. */
const leastRole: Record<Access, Role> = { read: "viewer", write: "member", admin: "admin", worker: "worker" };

export const roleAllows = (role: Role, access: Access) => grants[role].includes(access);

/** A role no greater than `limit`: a key may carry its user's role or less. */
export const roleWithin = (role: Role, limit: Role) => grants[role].every((a) => grants[limit].includes(a));

/**
 * The caller of one request. `kind` says how it was known: a key from the database,
 * the built-in `CODETETHER_API_KEY` (an admin) or `CODETETHER_WORKER_TOKEN` (a worker),
 * or an open server (no key configured and no users: an admin, as before keys existed).
 */
export interface Caller {
  kind: "key" | "builtin" | "open";
  role: Role;
  userId: string | null;
  userName: string;
  keyId: string | null;
  /** The codebases this key may see; null for all. */
  codebases: readonly string[] | null;
  /** The worker names this key may speak for; null for any. */
  workers: readonly string[] | null;
}

/** The server itself (its own runner, sweeps, start-up): sees everything. */
export const systemCaller: Caller = { kind: "builtin", role: "admin", userId: null, userName: "system", keyId: null, codebases: null, workers: null };

/** Why `caller` may not do what needs `access`, or null when it may. */
export function refusal(caller: Caller, access: Access): string | null {
  if (roleAllows(caller.role, access)) return null;
  return `Forbidden: this needs the ${leastRole[access]} role${access === "worker" ? "" : " or higher"}; your key's role is ${caller.role}`;
}

/** True when `caller` may see the codebase `id` (a key limited to codebases sees only those). */
export const canSeeCodebase = (caller: Caller | undefined, id: string) => !caller?.codebases || caller.codebases.includes(id);
