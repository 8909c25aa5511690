/**
 * A new embedded database starts from the seed the build made (src/db/seed.ts), not from initdb: with the migrations
 * applied, keeping what is written, and whole again after a start that died while writing the seed.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { sql } from "drizzle-orm";
import { createDb, type DbOptions, rowsOf } from "../../src/db/client.js";
import { seedFile } from "../../src/db/seed.js";

/** The cluster's identity, which initdb draws at random: every database seeded from one dump has the seed's. */
async function systemIdentifier(options: DbOptions, created?: "seed" | "initdb"): Promise<string> {
  const database = await createDb(options);
  try {
    if (created) assert.equal(database.created, created);
    const [row] = rowsOf<{ id: string }>(await database.db.execute(sql`select system_identifier::text as id from pg_control_system()`));
    return row!.id;
  } finally {
    await database.close();
  }
}

describe("the embedded database's seed", () => {
  let tmp: string;
  let seeded: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ct-seed-"));
    assert.ok(existsSync(seedFile()), `the build made ${seedFile()}`);
    seeded = await systemIdentifier({ driver: "pglite", dataDir: null });
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  test("a new data directory starts from it, migrated, and keeps what is written across starts", async () => {
    const dataDir = path.join(tmp, "new");
    const first = await createDb({ driver: "pglite", dataDir });
    assert.equal(first.created, "seed");
    await first.db.execute(sql`insert into codebases (id, name, path) values ('cb-1', 'kept', '/srv/kept')`);
    await first.close();
    assert.equal(await systemIdentifier({ driver: "pglite", dataDir: path.join(tmp, "other") }), seeded, "a second new directory: the same seed");

    const again = await createDb({ driver: "pglite", dataDir });
    assert.equal(again.created, undefined, "it existed");
    try {
      const [row] = rowsOf<{ name: string; id: string }>(
        await again.db.execute(sql`select name, (select system_identifier::text from pg_control_system()) as id from codebases`),
      );
      assert.deepEqual(row, { name: "kept", id: seeded });
    } finally {
      await again.close();
    }
    const left = await readdir(dataDir);
    assert.ok(!left.includes(".codetether-seeding"), left.join(", "));
  });

  test("without a seed (none for this PGlite), initdb makes the database: a cluster of its own", async () => {
    const own = await systemIdentifier({ driver: "pglite", dataDir: path.join(tmp, "initdb"), seed: path.join(tmp, "no-such-seed.tar.gz") }, "initdb");
    assert.notEqual(own, seeded);
  });

  test("a start that died while writing the seed leaves a directory the next start seeds again", async () => {
    // What such a start leaves: the marker, PG_VERSION (the dump's first file) and a cluster cut short.
    const dataDir = path.join(tmp, "cut");
    await mkdir(path.join(dataDir, "global"), { recursive: true });
    await writeFile(path.join(dataDir, ".codetether-seeding"), "");
    await writeFile(path.join(dataDir, "PG_VERSION"), "18\n");
    await writeFile(path.join(dataDir, "global", "pg_control"), "half");
    await truncate(path.join(dataDir, "global", "pg_control"), 2);
    assert.equal(await systemIdentifier({ driver: "pglite", dataDir }, "seed"), seeded);
    assert.ok(!existsSync(path.join(dataDir, ".codetether-seeding")));
  });
});
