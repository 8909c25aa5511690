/**
 * `codetether keys create|list|revoke`: users' API keys, straight in the database the
 * server uses (DATABASE_URL, or the embedded one under CODETETHER_DATA_DIR), so the
 * first admin of a fresh install can get a key before any key exists. The embedded
 * database opens in one process at a time: stop the server first, or use the API.
 */
import { parseArgs } from "node:util";
import { roles } from "../contracts/access.js";
import type { ServiceContext } from "../services/context.js";

const keysUsage = `Usage:
  codetether keys create --user <name> [--role <role>] [--name <key name>] [--codebase <id>]... [--expires <ISO time>]
  codetether keys list
  codetether keys revoke <key id>

Creates, lists and revokes API keys in the server's database. "create" adds the user
when there is none of that name (with --role, default admin) and prints the key: it is
shown this once. Roles: ${roles.join(", ")}.`;

const options = {
  user: { type: "string" },
  role: { type: "string" },
  name: { type: "string" },
  codebase: { type: "string", multiple: true },
  expires: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function runKeysCommand(argv: string[], fail: (message: string) => never): Promise<void> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${keysUsage}`);
  }
  const { values, positionals } = parsed;
  const [verb, ...rest] = positionals;
  if (values.help || !verb) return console.log(keysUsage);
  if (!["create", "list", "revoke"].includes(verb)) fail(`unknown keys command "${verb}"\n\n${keysUsage}`);
  if (values.role !== undefined && !(roles as readonly string[]).includes(values.role)) fail(`--role must be one of ${roles.join(", ")}`);
  if (verb === "create" && !values.user) fail(`keys create needs --user <name>\n\n${keysUsage}`);
  if (verb === "revoke" && rest.length !== 1) fail(`keys revoke needs one key id\n\n${keysUsage}`);

  const [{ loadConfig }, { createDb, dbOptionsFromEnv }, { DataDirLockedError }, keys, { ServiceError }] = await Promise.all([
    import("../config.js"),
    import("../db/client.js"),
    import("../db/lock.js"),
    import("../services/access/keys.js"),
    import("../contracts/errors.js"),
  ]);
  const config = loadConfig(process.env);
  let database: Awaited<ReturnType<typeof createDb>>;
  try {
    database = await createDb(dbOptionsFromEnv(process.env, config.dataDir));
  } catch (err) {
    if (err instanceof DataDirLockedError) fail(`${err.message}\nStop the server first, or create the key with POST /v1/opencode/keys and an admin key.`);
    throw err;
  }
  // The verbs need only the database here; the audit trail records the change as the server's own (actor "system").
  const ctx = { database } as unknown as ServiceContext;
  try {
    if (verb === "list") {
      const list = await keys.listKeys({ ctx });
      if (list.length === 0) console.log("No keys yet: codetether keys create --user <name>");
      for (const k of list) {
        const state = k.revoked_at ? "revoked" : k.expires_at && Date.parse(k.expires_at) <= Date.now() ? "expired" : "active";
        console.log([k.id, k.user_name, k.role, k.name, state, k.last_used_at ?? "never used"].join("\t"));
      }
    } else if (verb === "revoke") {
      const k = await keys.revokeKey({ ctx, id: rest[0]! });
      console.log(`revoked ${k.id} (${k.name}, of ${k.user_name})`);
    } else {
      const role = (values.role ?? "admin") as (typeof roles)[number];
      const user = (await keys.listUsers({ ctx })).find((u) => u.name === values.user) ?? (await keys.createUser({ ctx, input: { name: values.user!, role } }));
      const created = await keys.createKey({
        ctx,
        input: {
          user_id: user.id,
          name: values.name ?? `${user.name}'s key`,
          ...(values.role ? { role } : {}),
          ...(values.codebase ? { codebase_ids: values.codebase } : {}),
          ...(values.expires ? { expires_at: values.expires } : {}),
        },
      });
      console.error(`Key ${created.id} for ${user.name} (${created.role}). It is shown this once; keep it somewhere safe:`);
      console.log(created.key);
    }
  } catch (err) {
    if (err instanceof ServiceError) fail(err.message);
    throw err;
  } finally {
    await database.close();
  }
}
