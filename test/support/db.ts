/**
 * Databases for tests: PGlite in memory always, and a fresh database on the real
 * Postgres of `DATABASE_URL` when it is set, dropped again afterwards.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { createDb, type Database } from "../../src/db/client.js";
import { repoRoot } from "./cli.js";

export interface TestDriver {
  name: "pglite" | "postgres";
  /** Creates a migrated, empty database; `drop` removes it for good. */
  create(): Promise<{ database: Database; url: string | null; drop(): Promise<void> }>;
}

const urlOf = (baseUrl: string, name: string) => {
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

/** Creates a database on the server of `baseUrl` (empty, or a copy of `template`) and returns its URL. */
export async function createPostgresDatabase(baseUrl: string, template?: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ct_test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}${template ? ` template ${template}` : ""}`);
  await admin.end();
  const url = new URL(urlOf(baseUrl, name));
  return {
    url: url.toString(),
    drop: async () => {
      const a = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/**
 * A migrated, empty PGlite database as a dump, made once per set of migrations and
 * kept in the temporary directory for every test process: starting from it takes
 * about a quarter of a second, where a new PGlite (its initdb) takes one and a half.
 */
let template: Promise<Uint8Array> | undefined;

/** What names a migrated template: a hash of the migrations, so a new migration makes a new one. */
function migrationsHash(): string {
  const folder = path.join(repoRoot, "drizzle");
  const hash = createHash("sha256");
  for (const file of readdirSync(folder, { recursive: true }).map(String).sort()) {
    const full = path.join(folder, file);
    if (statSync(full).isFile()) hash.update(file).update(readFileSync(full));
  }
  return hash.digest("hex").slice(0, 16);
}

function pgliteTemplate(): Promise<Uint8Array> {
  template ??= (async () => {
    const cached = path.join(os.tmpdir(), `codetether-test-pglite-${migrationsHash()}.tar`);
    if (existsSync(cached)) return readFileSync(cached);
    const database = await createDb({ driver: "pglite", dataDir: null });
    const dump = new Uint8Array(await (await database.dump!()).arrayBuffer());
    await database.close();
    // Written whole, then renamed: a process reading it at the same time never sees half of it.
    const partial = `${cached}.${process.pid}.part`;
    writeFileSync(partial, dump);
    renameSync(partial, cached);
    return dump;
  })();
  return template;
}

/**
 * The template as the Blob PGlite loads a dump from. PGlite reads it only with `arrayBuffer()` (and its `type`), and
 * a Blob of Node 20 copies the bytes in and reads them back in small chunks: for this dump (about 40 MB, most of it a
 * WAL segment and the catalogs) that was about 0.45 s of CPU for a test file's first database and 0.25 s for each
 * further one. This one hands each database its own copy of bytes already in memory.
 */
class TemplateBlob extends Blob {
  readonly #dump: Uint8Array;
  constructor(dump: Uint8Array) {
    super([], { type: "application/x-tar" });
    this.#dump = dump;
  }
  override async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#dump.slice().buffer;
  }
}

export const pgliteDriver: TestDriver = {
  name: "pglite",
  async create() {
    const database = await createDb({ driver: "pglite", dataDir: null, loadDataDir: new TemplateBlob(await pgliteTemplate()) });
    return { database, url: null, drop: async () => {} };
  },
};

/**
 * A migrated, empty Postgres database to copy (`create database … template`), made once per set of migrations
 * on the server and shared by every test process: a copy is a file copy, where migrating is a dozen transactions.
 * Processes take turns making it under an advisory lock; templates of older migrations are dropped then.
 */
const templates = new Map<string, Promise<string>>();
function postgresTemplate(baseUrl: string): Promise<string> {
  let made = templates.get(baseUrl);
  if (!made) {
    made = (async () => {
      const name = `ct_template_${migrationsHash()}`;
      const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
      try {
        await admin`select pg_advisory_lock(7301964113)`;
        const [found] = await admin`select 1 from pg_database where datname = ${name}`;
        if (!found) {
          const building = `${name}_${process.pid}`;
          await admin.unsafe(`drop database if exists ${building}`);
          await admin.unsafe(`create database ${building}`);
          await (await createDb({ driver: "postgres", url: urlOf(baseUrl, building) })).close();
          await admin.unsafe(`alter database ${building} rename to ${name}`);
          // Made now: templates of other migrations go once they are a day old (another checkout's, run beside this one
          // by a benchmark, is still in use). One made before templates had their age recorded stays: it may be that.
          await admin.unsafe(`comment on database ${name} is '${new Date().toISOString()}'`);
          const old = await admin<{ datname: string }[]>`
            select datname from pg_database d
            where datname like 'ct\_template\_%' and datname <> ${name}
              and shobj_description(d.oid, 'pg_database') < ${new Date(Date.now() - 86_400_000).toISOString()}`;
          for (const { datname } of old) await admin.unsafe(`drop database if exists ${datname} with (force)`);
        }
        await admin`select pg_advisory_unlock(7301964113)`;
      } finally {
        await admin.end();
      }
      return name;
    })();
    templates.set(baseUrl, made);
  }
  return made;
}

export function postgresDriver(baseUrl: string): TestDriver {
  return {
    name: "postgres",
    async create() {
      const { url, drop } = await createPostgresDatabase(baseUrl, await postgresTemplate(baseUrl)).catch(async (err) => {
        // Its template was dropped under it (an older checkout's test support drops every template but its own): make it again.
        if ((err as { code?: string }).code !== "3D000") throw err;
        templates.delete(baseUrl);
        return createPostgresDatabase(baseUrl, await postgresTemplate(baseUrl));
      });
      const database = await createDb({ driver: "postgres", url });
      return {
        database,
        url,
        drop: async () => {
          await database.close().catch(() => {});
          await drop();
        },
      };
    },
  };
}

/** PGlite always; the real Postgres too when DATABASE_URL is set (CI sets it). */
export function testDrivers(): TestDriver[] {
  const url = process.env.DATABASE_URL?.trim();
  return url ? [pgliteDriver, postgresDriver(url)] : [pgliteDriver];
}
