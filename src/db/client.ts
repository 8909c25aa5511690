/**
 * One `createDb()` for both drivers: postgres.js when a URL is given, embedded
 * PGlite otherwise. Both run the same drizzle/ migrations at start-up.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { type Column, getTableColumns } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTable } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { packagePath } from "../package-root.js";
import { DatabaseCircuit } from "./circuit.js";
import { acquireDataDirLock } from "./lock.js";
import * as schema from "./schema.js";
import { needsSeed, plantSeed, readSeed, seedFile } from "./seed.js";

export type Schema = typeof schema;
/** The drizzle database both drivers share; transactions (`tx`) have the same shape. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export type DbOptions =
  | { driver: "postgres"; url: string; maxConnections?: number }
  | {
      driver: "pglite";
      dataDir: string | null /* null = in memory */;
      /** Start an in-memory database from a dump of another (tests start from a migrated template). */
      loadDataDir?: Blob;
      /** The seed a new database starts from (src/db/seed.ts), the build's by default; where there is none, initdb. */
      seed?: string;
    };

/** Wakes a listener when another connection (or process) says a channel changed. */
export type Unlisten = () => Promise<void>;

export interface Database {
  db: Db;
  driver: "postgres" | "pglite";
  /** Human-readable description for logs, without credentials. */
  describe: string;
  /** How a new embedded database was made at this start (the build's seed, or initdb); absent when it existed. */
  created?: "seed" | "initdb";
  /** Sends a small hint on a channel (Postgres NOTIFY); listeners then read the data themselves. */
  notify(channel: string, payload: string): Promise<void>;
  listen(channel: string, onPayload: (payload: string) => void): Promise<Unlisten>;
  /** Opens while a server database cannot be reached (the embedded one always can). */
  circuit: DatabaseCircuit | null;
  close(): Promise<void>;
  /** The embedded database's files as one archive (PGlite only): tests start new databases from a migrated one. */
  dump?(): Promise<Blob>;
}

const migrationsFolder = packagePath("drizzle");

/** Opens the database, applies migrations, and returns it with its close function. */
export async function createDb(options: DbOptions): Promise<Database> {
  return options.driver === "postgres" ? openPostgres(options.url, options.maxConnections) : openPglite(options);
}

/** Picks the driver from the environment: `DATABASE_URL` or the embedded data dir. */
export function dbOptionsFromEnv(env: NodeJS.ProcessEnv, dataDir: string): DbOptions {
  const url = env.DATABASE_URL?.trim();
  return url ? { driver: "postgres", url } : { driver: "pglite", dataDir: path.join(dataDir, "db") };
}

/**
 * `client` with every query that has parameters sent as a prepared statement, inside transactions too. drizzle
 * prepares only queries given a name, so each of ours would be parsed and planned again on every call (0.3-0.8 ms a
 * statement on this machine: most of an upload's database time after the append itself). postgres.js keeps a
 * connection's prepared statements until the connection ends (recycled every 30-60 minutes), as it does for its own
 * tagged queries, where preparing is its default.
 */
function preparing(client: postgres.Sql): postgres.Sql {
  type Unsafe = postgres.Sql["unsafe"];
  const wrap = <T extends object>(sql: T): T =>
    new Proxy(sql, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key === "unsafe") {
          const unsafe = value as Unsafe;
          return ((query: string, params?: unknown[], options?: Record<string, unknown>) =>
            unsafe.call(target, query, params as never, params && params.length > 0 ? { ...options, prepare: true } : options)) as Unsafe;
        }
        if (key === "begin") {
          const begin = value as (...args: unknown[]) => unknown;
          return (...args: unknown[]) =>
            begin.apply(
              target,
              args.map((a) => (typeof a === "function" ? (tx: object) => (a as (tx: object) => unknown)(wrap(tx)) : a)),
            );
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return wrap(client);
}

async function openPostgres(url: string, maxConnections = 10): Promise<Database> {
  const client = postgres(url, {
    max: maxConnections,
    onnotice: () => {},
    connect_timeout: 10,
    // postgres.js waits up to 20 s (3^failures / 100) before reconnecting after errors; once the
    // database is back we want to serve within seconds, so retry every quarter to half second.
    backoff: () => 0.25 + Math.random() * 0.25,
    // No JIT compilation: every statement here is short, and Postgres decides to compile one by its estimated cost,
    // not by how long it runs. A claim's estimate grows with the pending tasks it might route, so with 50,000 of them
    // each claim spent about a second compiling itself (JIT code is not kept between executions) to run for 1.5 ms.
    connection: { jit: "off" },
    // Keep JSON as text in/out so drizzle's jsonb mapping stays in charge.
  });
  const db = drizzlePostgres(preparing(client), { schema }) as unknown as Db;
  await migrateWithLock(url);
  const parsed = new URL(url);
  const circuit = new DatabaseCircuit(() => client`select 1`);
  return {
    db,
    circuit,
    driver: "postgres",
    describe: `postgres://${parsed.host}${parsed.pathname}`,
    notify: async (channel, payload) => {
      await client`select pg_notify(${channel}, ${payload})`;
    },
    listen: async (channel, onPayload) => {
      const sub = await client.listen(channel, onPayload);
      return () => sub.unlisten();
    },
    close: () => {
      circuit.stop();
      return client.end({ timeout: 5 });
    },
  };
}

/**
 * Several servers may start at once on one Postgres; concurrent migrations
 * collide, so they take turns under a session advisory lock on one connection.
 */
async function migrateWithLock(url: string): Promise<void> {
  const one = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await one`select pg_advisory_lock(${migrationLockKey})`;
    await migratePostgres(drizzlePostgres(one), { migrationsFolder });
  } finally {
    await one.end({ timeout: 5 });
  }
}

/** Any fixed number unique to this application. */
const migrationLockKey = 7_301_964_112;

/**
 * The embedded database holds one server's data: Postgres's defaults (128 MB of
 * shared buffers) cost about 150 MB of resident memory it does not need. Measured
 * idle on existing data: 326 MB with the defaults, 175 MB with these.
 */
const embeddedSettings = ["shared_buffers = 16MB", "work_mem = 4MB", "maintenance_work_mem = 16MB", "wal_buffers = 1MB"];

async function openPglite({ dataDir, loadDataDir, seed = seedFile() }: Extract<DbOptions, { driver: "pglite" }>): Promise<Database> {
  let release: (() => void) | undefined;
  if (dataDir) {
    await mkdir(dataDir, { recursive: true });
    // PGlite takes no lock of its own; two processes on one directory corrupt it.
    release = acquireDataDirLock(dataDir);
  }
  try {
    const open = async (load?: Blob) => {
      const c = new PGlite({ postgresqlconf: embeddedSettings, ...(dataDir ? { dataDir } : {}), ...(load ? { loadDataDir: load } : {}) });
      await c.waitReady;
      return c;
    };
    // A new cluster comes from the given dump, else from the build's seed (src/db/seed.ts), else from initdb.
    let created: Database["created"];
    let load = loadDataDir;
    if (dataDir === null) load ??= await readSeed(seed);
    else if (needsSeed(dataDir)) created = (await plantSeed(dataDir, seed)) ? "seed" : "initdb";
    let client = await open(load);
    await migratePglite(drizzlePglite(client), { migrationsFolder });
    if (created === "initdb") {
      // Creating the database (initdb) grows the WebAssembly heap by about half a gigabyte that
      // it never gives back; a new instance on the data it wrote starts small again.
      await client.close();
      client = await open();
    }
    const db = drizzlePglite(preparingPglite(client), { schema }) as unknown as Db;
    return {
      db,
      circuit: null,
      driver: "pglite",
      describe: dataDir ? `embedded PGlite at ${dataDir}` : "embedded PGlite (in memory)",
      ...(created ? { created } : {}),
      notify: async (channel, payload) => {
        await client.query("select pg_notify($1, $2)", [channel, payload]);
      },
      listen: async (channel, onPayload) => client.listen(channel, onPayload),
      dump: async () => client.dumpDataDir("none"),
      close: async () => {
        try {
          await client.close();
        } finally {
          release?.();
        }
      },
    };
  } catch (err) {
    release?.();
    throw err;
  }
}

/** A SQL literal for a parameter value, or undefined for a value only the driver's own serializers should write. */
function literal(value: unknown): string | undefined {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number") return Number.isFinite(value) ? `'${value}'` : undefined;
  if (typeof value === "bigint") return `'${value}'`;
  if (typeof value === "boolean") return value ? "'true'" : "'false'";
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : `'${value.toISOString()}'`;
  // A NUL cannot be in a query's text (nor stored): the driver's own path refuses it as it always did.
  if (typeof value === "string" && !value.includes("\u0000")) return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
  return undefined;
}

/** Statements prepared in one embedded database, at most this many (beyond it, new ones are planned at each call). */
const maxPrepared = 1000;

/**
 * `client` with every query that has parameters run as a prepared statement: planned once, then executed. PGlite
 * plans each query afresh (its `query` parses, describes and binds an unnamed statement every time), and for the
 * statements on the hot paths planning is most of the work: an append of one event takes 1.1-1.3 ms planned each
 * time, 0.35 ms prepared. PGlite has no API for named statements, so it is done in SQL: PREPARE once (its parameter
 * types inferred as for any query), then EXECUTE with the values as literals (`E''` strings, quotes and backslashes
 * doubled; a value of any other kind than text, numbers, booleans and dates goes the usual way).
 */
function preparingPglite(client: PGlite): PGlite {
  // A statement's name once PREPARE has answered (null: PREPARE refused it), reserved before it is asked.
  const prepared = new Map<string, Promise<string | null>>();
  type Query = PGlite["query"];
  const run = (query: Query, canPrepare: boolean): Query =>
    (async (text: string, params?: unknown[], options?: Parameters<Query>[2]) => {
      if (!params || params.length === 0) return query(text, params, options);
      let naming = prepared.get(text);
      if (!naming && canPrepare && prepared.size < maxPrepared) {
        const name = `ct_${prepared.size + 1}`;
        // Not a statement PREPARE takes: planned at each call, as before.
        naming = client.exec(`prepare ${name} as ${text}`).then(
          () => name,
          () => null,
        );
        prepared.set(text, naming);
      }
      const name = await naming;
      const values = params.map(literal);
      if (!name || values.some((v) => v === undefined)) return query(text, params, options);
      return query(`execute ${name} (${values.join(", ")})`, [], options);
    }) as Query;
  return new Proxy(client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key === "query") return run((value as Query).bind(target), true);
      if (key === "transaction") {
        // Inside a transaction statements prepared already are executed; none is prepared there (a failed one would
        // abort the transaction).
        const transaction = value as PGlite["transaction"];
        return ((work: (tx: Transaction) => Promise<unknown>) =>
          transaction.call(target, (tx) =>
            work(new Proxy(tx, { get: (t, k, r) => (k === "query" ? run(t.query.bind(t), false) : Reflect.get(t, k, r)) })),
          )) as PGlite["transaction"];
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The rows of a raw `execute` (postgres.js answers an array, PGlite an object with `rows`). */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

const columnsByTable = new WeakMap<PgTable, [string, Column][]>();

/**
 * A raw statement's row as drizzle's own queries hand back a row of `table`: each column read by its SQL name
 * (after `prefix`) and mapped as drizzle maps it (timestamps to Dates, JSON parsed), for statements drizzle's
 * builder cannot write (data-modifying CTEs), so their callers keep the table's row type.
 */
export function tableRow<T extends PgTable>(table: T, raw: Record<string, unknown>, prefix = ""): T["$inferSelect"] {
  let columns = columnsByTable.get(table);
  if (!columns) {
    columns = Object.entries(getTableColumns(table));
    columnsByTable.set(table, columns);
  }
  const row: Record<string, unknown> = {};
  for (const [key, column] of columns) {
    const value = raw[prefix + column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as T["$inferSelect"];
}
