/**
 * Databases for tests: PGlite in memory always, and a fresh database on the real
 * Postgres of `DATABASE_URL` when it is set, dropped again afterwards.
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { createDb, type Database } from "../../src/db/client.js";

export interface TestDriver {
  name: "pglite" | "postgres";
  /** Creates a migrated, empty database; `drop` removes it for good. */
  create(): Promise<{ database: Database; url: string | null; drop(): Promise<void> }>;
}

/** Creates an empty database on the server of `baseUrl` and returns its URL. */
export async function createPostgresDatabase(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ct_test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = postgres(baseUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export const pgliteDriver: TestDriver = {
  name: "pglite",
  async create() {
    const database = await createDb({ driver: "pglite", dataDir: null });
    return { database, url: null, drop: async () => {} };
  },
};

export function postgresDriver(baseUrl: string): TestDriver {
  return {
    name: "postgres",
    async create() {
      const { url, drop } = await createPostgresDatabase(baseUrl);
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
