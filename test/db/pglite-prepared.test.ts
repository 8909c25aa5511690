/**
 * The embedded database runs queries with parameters as statements prepared once (PREPARE, then EXECUTE with the
 * values written as literals): every value must come back exactly as it went in, whatever it holds.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sql } from "drizzle-orm";
import { createDb, type Database, rowsOf } from "../../src/db/client.js";

describe("PGlite: queries with parameters run prepared", () => {
  let database: Database;
  before(async () => {
    database = await createDb({ driver: "pglite", dataDir: null });
    await database.db.execute(sql`create table echo (t text, n numeric, i int, b boolean, at timestamptz, j jsonb)`);
  });
  after(() => database.close());

  const texts = [
    "plain",
    "it's",
    "''",
    "\\",
    "\\'",
    "ends with a backslash \\",
    "E'not an escape'",
    "$1 $$ $tag$ dollar",
    "'); drop table echo; --",
    "line\nbreak\ttab\r",
    "ünïcödé, 漢字, emoji 🎉, a lone surrogate pair 𝄞",
    "x".repeat(100_000),
    "",
  ];

  test("text comes back exactly as it went in, through a statement prepared once", async () => {
    for (const t of texts) {
      const [row] = rowsOf<{ t: string }>(await database.db.execute(sql`select ${t}::text as t`));
      assert.equal(row!.t, t);
    }
    const prepared = rowsOf<{ n: string | number }>(
      await database.db.execute(sql`select count(*)::int as n from pg_prepared_statements where statement like ${"prepare %select $1::text as t%"}`),
    );
    assert.equal(Number(prepared[0]!.n), 1, "one statement, prepared once");
  });

  test("numbers, booleans, dates, nulls and JSON keep their values and types", async () => {
    const at = new Date("2026-12-06T10:11:12.345Z");
    const json = { quote: "it's", backslash: "\\", nested: [1, null, "two"] };
    for (const values of [
      [0, 0, true, at, json],
      [-1.5, 2_147_483_647, false, at, []],
      [1e-9, -7, null, null, null],
    ] as const) {
      await database.db.execute(sql`delete from echo`);
      const [n, i, b, when, j] = values;
      await database.db.execute(sql`insert into echo (n, i, b, at, j) values (${n}, ${i}, ${b}, ${when}, ${j === null ? null : JSON.stringify(j)}::jsonb)`);
      const [row] = rowsOf<{ n: string | number; i: number; b: boolean | null; at: string | null; j: unknown }>(
        await database.db.execute(sql`select n, i, b, at, j from echo where i = ${i}`),
      );
      assert.equal(Number(row!.n), n);
      assert.equal(row!.i, i);
      assert.equal(row!.b, b);
      assert.equal(row!.at === null ? null : new Date(row!.at).toISOString(), when === null ? null : when.toISOString());
      assert.deepEqual(row!.j, j);
    }
  });

  test("values it cannot write as literals go the driver's own way, with the same answers", async () => {
    // Bytes are serialized by the driver; a NUL cannot be in SQL text at all (and the database refuses it as ever).
    const [row] = rowsOf<{ n: number }>(await database.db.execute(sql`select length(${Buffer.from("a'b\\c")}::bytea) as n`));
    assert.equal(row!.n, 5);
    await assert.rejects(database.db.execute(sql`select ${"nul\u0000inside"}::text`));
  });

  test("inside a transaction the prepared statements are used, and a failure there rolls back as before", async () => {
    await database.db.execute(sql`delete from echo`);
    await assert.rejects(
      database.db.transaction(async (tx) => {
        await tx.execute(sql`insert into echo (t, i) values (${"in a transaction"}, ${1})`);
        await tx.execute(sql`insert into echo (t, i) values (${"not a number"}, ${"x"})`);
      }),
    );
    const rows = rowsOf<{ n: number }>(await database.db.execute(sql`select count(*)::int as n from echo`));
    assert.equal(rows[0]!.n, 0);
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`insert into echo (t, i) values (${"it's committed"}, ${2})`);
    });
    const [row] = rowsOf<{ t: string }>(await database.db.execute(sql`select t from echo where i = ${2}`));
    assert.equal(row!.t, "it's committed");
  });
});
