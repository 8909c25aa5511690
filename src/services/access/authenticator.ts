/**
 * Turns a bearer token into a caller. `ctk_` keys are looked up by their id and
 * their secret's hash compared in constant time; a token with no such id does the
 * same work against a stand-in hash, so timing says nothing about which part was
 * wrong. What a process knows of a key lives for at most a second, and a NOTIFY on
 * `accessChannel` (a revocation, a user disabled) drops it at once and aborts the
 * key's open streams (`signalFor`).
 */
import { timingSafeEqual } from "node:crypto";
import { setMaxListeners } from "node:events";
import { eq } from "drizzle-orm";
import type { Caller } from "../../contracts/access.js";
import type { Database, Unlisten } from "../../db/client.js";
import { apiKeys, users } from "../../db/schema.js";
import type { Logger } from "../../observability/log.js";
import { accessChannel, callerOfKey, hashSecret, hasUsers, parseKey } from "./keys.js";

/** How long a process trusts what it read of a key (the longest a revocation could go unseen if a NOTIFY were lost). */
const cacheMs = 1000;
/** `last_used_at` is written at most this often per key (off the request's path). */
const touchEveryMs = 60_000;

type KeyRow = typeof apiKeys.$inferSelect;
type UserRow = typeof users.$inferSelect;
interface Known {
  at: number;
  found: { key: KeyRow; user: UserRow } | null;
}

const standInHash = hashSecret("no key has this secret");

export type Authentication = { caller: Caller } | { refused: string } | null;

export class KeyAuthenticator {
  private readonly known = new Map<string, Known>();
  private readonly touched = new Map<string, number>();
  private usersKnown: { at: number; any: boolean } | null = null;
  private unlisten: Unlisten | undefined;
  /** Secret comparisons made: one per `ctk_` token, whether its id exists or not (the tests hold it to that). */
  comparisons = 0;

  constructor(
    private readonly database: Database,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten ??= await this.database.listen(accessChannel, (payload) => this.forget(payload));
  }

  async stop(): Promise<void> {
    const un = this.unlisten;
    this.unlisten = undefined;
    await un?.().catch(() => {});
  }

  /** Drops what is known of a key (`key:<id>`) or of every key (`user:<id>` and anything else), ending their streams. */
  forget(payload: string): void {
    const keyId = payload.startsWith("key:") ? payload.slice(4) : null;
    this.usersKnown = null;
    if (keyId) this.known.delete(keyId);
    else this.known.clear();
    // Streams are ended only when their key no longer authenticates: look again now.
    for (const id of keyId ? [keyId] : [...this.ending.keys()]) void this.recheckStreams(id);
  }

  /** Whether the database has any user yet (cached for a second, like keys). */
  async anyUsers(): Promise<boolean> {
    const now = Date.now();
    if (this.usersKnown && now - this.usersKnown.at < cacheMs) return this.usersKnown.any;
    const any = await hasUsers(this.database.db);
    this.usersKnown = { at: now, any };
    return any;
  }

  /** The caller a `ctk_` token stands for; a refusal naming why; or null when it is not one of ours at all. */
  async authenticate(token: string): Promise<Authentication> {
    const parsed = parseKey(token);
    if (!parsed) return null;
    const found = await this.lookUp(parsed.id);
    const given = Buffer.from(hashSecret(parsed.secret), "hex");
    const stored = Buffer.from(found?.key.secretHash ?? standInHash, "hex");
    this.comparisons++;
    const matches = timingSafeEqual(given, stored) && found !== null;
    if (!matches) return null;
    const caller = callerOfKey(found.key, found.user);
    if (typeof caller === "string") return { refused: caller };
    this.touch(found.key.id);
    return { caller };
  }

  /**
   * A signal that aborts when `keyId` stops authenticating (revoked, expired, its user disabled), for the key's open
   * streams: one per key, shared by all of them, so a stream that ends leaves nothing behind.
   */
  signalFor(keyId: string): AbortSignal {
    let controller = this.ending.get(keyId);
    if (!controller) {
      controller = new AbortController();
      setMaxListeners(0, controller.signal); // every open stream of the key listens
      this.ending.set(keyId, controller);
    }
    return controller.signal;
  }

  private readonly ending = new Map<string, AbortController>();

  private async recheckStreams(keyId: string): Promise<void> {
    const controller = this.ending.get(keyId);
    if (!controller) return;
    const found = await this.lookUp(keyId).catch(() => undefined);
    if (found === undefined) return; // the database did not answer: the next NOTIFY or request decides
    if (found && typeof callerOfKey(found.key, found.user) !== "string") return;
    this.ending.delete(keyId);
    controller.abort(new Error("the key no longer authenticates"));
  }

  private async lookUp(id: string): Promise<Known["found"]> {
    const now = Date.now();
    const cached = this.known.get(id);
    if (cached && now - cached.at < cacheMs) return cached.found;
    const [row] = await this.database.db
      .select({ key: apiKeys, user: users })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(eq(apiKeys.id, id));
    const found = row ?? null;
    // A bounded cache: ids nobody holds a key for (probes) are not worth keeping.
    if (found || this.known.size < 10_000) this.known.set(id, { at: now, found });
    return found;
  }

  private touch(keyId: string): void {
    const now = Date.now();
    if (now - (this.touched.get(keyId) ?? 0) < touchEveryMs) return;
    this.touched.set(keyId, now);
    this.database.db
      .update(apiKeys)
      .set({ lastUsedAt: new Date(now) })
      .where(eq(apiKeys.id, keyId))
      .catch((err: unknown) => this.log.warn({ err, key_id: keyId }, "recording a key's last use failed"));
  }
}
