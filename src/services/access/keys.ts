/**
 * Users and their API keys. A key is `ctk_<id>_<secret>`: the prefix lets secret
 * scanners find leaked ones, the id finds its row, and only the SHA-256 of the
 * secret is stored, so a database dump opens nothing. Users and keys are changed
 * by admins (and, for the first admin, by `codetether keys create`), each change
 * with its audit row.
 */
import { createHash, randomBytes } from "node:crypto";
import { and, asc, count, eq, isNull } from "drizzle-orm";
import { type Caller, type Role, roleWithin, systemCaller } from "../../contracts/access.js";
import { conflict, invalid, isUniqueViolation, notFound } from "../../contracts/errors.js";
import type { Db } from "../../db/client.js";
import { apiKeys, users } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import type { ApiKey, CreatedKey, CreateKeyRequest, CreateUserRequest, Me, UpdateUserRequest, User } from "./access.types.js";
import { audited } from "./audit.js";

/** Said on NOTIFY when a key or user changes, so every process forgets what it knew of them at once. */
export const accessChannel = "codetether_access";

/**
 * Says a key or user changed: this process forgets it at once (its next request must not meet the cached key,
 * and NOTIFY reaches this process too, but only a moment later), and every other process on its NOTIFY.
 */
async function accessChanged(ctx: ServiceContext, payload: string): Promise<void> {
  ctx.access.forget(payload);
  await ctx.database.notify(accessChannel, payload);
}

const keyPattern = /^ctk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

function newKeyId(): string {
  const bytes = randomBytes(12);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/** The stored form of a secret. */
export const hashSecret = (secret: string) => createHash("sha256").update(secret).digest("hex");

/** The id and secret of a `ctk_` key, or null when `token` is not shaped like one. */
export function parseKey(token: string): { id: string; secret: string } | null {
  const m = keyPattern.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

type UserRow = typeof users.$inferSelect;
type KeyRow = typeof apiKeys.$inferSelect;

const toUser = (r: UserRow): User => ({ id: r.id, name: r.name, role: r.role as Role, disabled: r.disabledAt !== null, created_at: r.createdAt.toISOString() });

const toKey = (r: KeyRow, userName: string): ApiKey => ({
  id: r.id,
  user_id: r.userId,
  user_name: userName,
  name: r.name,
  role: r.role as Role,
  codebase_ids: r.codebaseIds ?? null,
  worker_names: r.workerNames ?? null,
  expires_at: r.expiresAt?.toISOString() ?? null,
  last_used_at: r.lastUsedAt?.toISOString() ?? null,
  revoked_at: r.revokedAt?.toISOString() ?? null,
  created_at: r.createdAt.toISOString(),
});

/** Whether any user exists: a server with none (and no built-in key) stays open on loopback, as before keys. */
export async function hasUsers(db: Db): Promise<boolean> {
  const [row] = await db.select({ n: count() }).from(users);
  return (row?.n ?? 0) > 0;
}

export async function listUsers({ ctx }: { ctx: ServiceContext }): Promise<User[]> {
  return (await ctx.database.db.select().from(users).orderBy(asc(users.createdAt), asc(users.id))).map(toUser);
}

export async function createUser({ ctx, input }: { ctx: ServiceContext; input: CreateUserRequest }): Promise<User> {
  try {
    const row = await audited(
      ctx,
      async (tx) =>
        (
          await tx
            .insert(users)
            .values({ id: `usr_${newKeyId()}`, name: input.name, role: input.role })
            .returning()
        )[0]!,
      (r) => ({ action: "user.create", targetType: "user", targetId: r.id, detail: { name: r.name, role: r.role } }),
    );
    return toUser(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`A user named "${input.name}" already exists`);
    throw err;
  }
}

export async function updateUser({ ctx, id, input }: { ctx: ServiceContext; id: string; input: UpdateUserRequest }): Promise<User> {
  const row = await audited(
    ctx,
    async (tx) => {
      const set: Partial<UserRow> = {};
      if (input.role) set.role = input.role;
      if (input.disabled !== undefined) set.disabledAt = input.disabled ? new Date() : null;
      const [updated] = await tx.update(users).set(set).where(eq(users.id, id)).returning();
      if (!updated) throw notFound("User");
      // A key never carries more than its user: lowering the role lowers the keys above it.
      if (input.role) {
        for (const key of await tx.select().from(apiKeys).where(eq(apiKeys.userId, id))) {
          if (!roleWithin(key.role as Role, input.role)) await tx.update(apiKeys).set({ role: input.role }).where(eq(apiKeys.id, key.id));
        }
      }
      return updated;
    },
    (r) => ({ action: "user.update", targetType: "user", targetId: r.id, detail: { ...input } }),
  );
  await accessChanged(ctx, `user:${id}`);
  return toUser(row);
}

export async function listKeys({ ctx, userId }: { ctx: ServiceContext; userId?: string }): Promise<ApiKey[]> {
  const rows = await ctx.database.db
    .select({ key: apiKeys, userName: users.name })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(userId ? eq(apiKeys.userId, userId) : undefined)
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
  return rows.map((r) => toKey(r.key, r.userName));
}

/** Creates a key for a user (the caller's own by default); the answer is the only time the key is shown. */
export async function createKey({ ctx, input }: { ctx: ServiceContext; input: CreateKeyRequest }): Promise<CreatedKey> {
  const userId = input.user_id ?? ctx.caller?.userId;
  if (!userId) throw invalid("user_id: name the user the key is for (the built-in key belongs to no user)");
  const [user] = await ctx.database.db.select().from(users).where(eq(users.id, userId));
  if (!user) throw notFound("User");
  const role = input.role ?? (user.role as Role);
  if (!roleWithin(role, user.role as Role)) throw invalid(`role: a key may not carry more than its user's role (${user.role})`);
  if (input.worker_names && role !== "worker") throw invalid("worker_names: only a worker key names workers");
  const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw invalid("expires_at must be in the future");
  const id = newKeyId();
  const secret = randomBytes(32).toString("base64url");
  const row = await audited(
    ctx,
    async (tx) =>
      (
        await tx
          .insert(apiKeys)
          .values({
            id,
            userId,
            name: input.name,
            role,
            codebaseIds: input.codebase_ids ?? null,
            workerNames: input.worker_names ?? null,
            secretHash: hashSecret(secret),
            expiresAt,
          })
          .returning()
      )[0]!,
    (r) => ({ action: "key.create", targetType: "key", targetId: r.id, detail: { user_id: userId, name: r.name, role, codebase_ids: r.codebaseIds } }),
  );
  return { ...toKey(row, user.name), key: `ctk_${id}_${secret}` };
}

/** Revokes a key: every server process refuses it within a second, its open streams included. */
export async function revokeKey({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<ApiKey> {
  const row = await audited(
    ctx,
    async (tx) => {
      const [current] = await tx.select().from(apiKeys).where(eq(apiKeys.id, id));
      if (!current) throw notFound("API key");
      if (current.revokedAt) return current;
      return (
        (
          await tx
            .update(apiKeys)
            .set({ revokedAt: new Date() })
            .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
            .returning()
        )[0] ?? current
      );
    },
    (r) => ({ action: "key.revoke", targetType: "key", targetId: r.id, detail: { user_id: r.userId } }),
  );
  await accessChanged(ctx, `key:${id}`);
  const [user] = await ctx.database.db.select().from(users).where(eq(users.id, row.userId));
  return toKey(row, user?.name ?? "");
}

/** The caller a stored key stands for, or why it is refused. */
export function callerOfKey(key: KeyRow, user: UserRow, now = Date.now()): Caller | string {
  if (key.revokedAt) return "this key was revoked";
  if (key.expiresAt && key.expiresAt.getTime() <= now) return "this key has expired";
  if (user.disabledAt) return "this key's user is disabled";
  return {
    kind: "key",
    role: key.role as Role,
    userId: user.id,
    userName: user.name,
    keyId: key.id,
    codebases: key.codebaseIds ?? null,
    workers: key.workerNames ?? null,
  };
}

/**
 * `ctx` as one request sees it: its caller and request id, and a `shutdown` that also
 * aborts when the caller's key stops authenticating (made only when a stream asks for it).
 */
export function withCaller({ ctx, caller, requestId }: { ctx: ServiceContext; caller: Caller; requestId?: string }): ServiceContext {
  const scoped: ServiceContext = { ...ctx, caller, requestId };
  const keyId = caller.keyId;
  if (keyId) {
    let signal: AbortSignal | undefined;
    Object.defineProperty(scoped, "shutdown", {
      get: () => (signal ??= AbortSignal.any([ctx.shutdown, ctx.access.signalFor(keyId)])),
      enumerable: true,
    });
  }
  return scoped;
}

/** Who the caller is and what its key allows, for clients to show (and to hide what they may not use). */
export function describeCaller({ ctx }: { ctx: ServiceContext }): Me {
  const c = ctx.caller ?? systemCaller;
  return { kind: c.kind, role: c.role, user_id: c.userId, user_name: c.userName, key_id: c.keyId, codebase_ids: c.codebases ? [...c.codebases] : null };
}
