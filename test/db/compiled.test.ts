/**
 * Statements built once (src/db/compiled.ts): each call runs the text of its shape with its own values, never the
 * values of the call that built it, on both drivers and inside transactions.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../src/db/client.js";
import { preparedPerDatabase, runCompiled, value } from "../../src/db/compiled.js";
import { workers } from "../../src/db/schema.js";
import { testDrivers } from "../support/db.js";

// Keys of this file's own, so no statement of the product shares them.
const echo = (values: Record<string, unknown>, shape: "plain" | "doubled" = "plain") =>
  ({
    key: `test.echo:${shape}`,
    build: () =>
      shape === "plain"
        ? sql`select ${value("t")}::text as t, ${value("n")}::int as n, ${value("j")}::jsonb as j, ${"constant"}::text as c`
        : sql`select ${value("t")}::text || ${value("t")}::text as t, ${value("n")}::int * 2 as n, ${value("j")}::jsonb as j, ${"constant"}::text as c`,
    values,
  }) as const;

for (const driver of testDrivers()) {
  describe(`compiled statements (${driver.name})`, () => {
    let database: Database;
    let drop: () => Promise<void>;
    before(async () => {
      ({ database, drop } = await driver.create());
    });
    after(async () => {
      await database.close();
      await drop();
    });

    test("each call runs with its own values; constants of the text stay; null is a value", async () => {
      for (const [t, n] of [
        ["first", 1],
        ["it's the second", 2],
        [null, null],
      ] as const) {
        const [row] = await runCompiled<{ t: string | null; n: number | null; c: string }>(database.db, echo({ t, n, j: JSON.stringify({ t }) }));
        assert.equal(row!.t, t);
        assert.equal(row!.n === null ? null : Number(row!.n), n);
        assert.equal(row!.c, "constant");
      }
    });

    test("a shape of its own is a text of its own, and a placeholder used twice takes one value", async () => {
      const [plain] = await runCompiled<{ t: string }>(database.db, echo({ t: "a", n: 1, j: "{}" }));
      const [doubled] = await runCompiled<{ t: string; n: number }>(database.db, echo({ t: "a", n: 4, j: "{}" }, "doubled"));
      assert.equal(plain!.t, "a");
      assert.equal(doubled!.t, "aa");
      assert.equal(Number(doubled!.n), 8);
    });

    test("a missing value is refused with the statement's key and the value's name, before anything runs", async () => {
      await assert.rejects(runCompiled(database.db, echo({ t: "a", n: 1 })), /statement test\.echo:plain: no value for j/);
    });

    test("inside a transaction it runs on the transaction, and rolls back with it", async () => {
      const insert = (name: string) => ({
        key: "test.insert-worker",
        build: () => sql`insert into workers (id, name) values (${value("name")}, ${value("name")}) returning name`,
        values: { name },
      });
      await assert.rejects(
        database.db.transaction(async (tx) => {
          await runCompiled(tx, insert("rolled-back"));
          throw new Error("roll back");
        }),
        /roll back/,
      );
      await runCompiled(database.db, insert("kept"));
      const byName = preparedPerDatabase((db) =>
        db
          .select()
          .from(workers)
          .where(eq(workers.name, value("name")))
          .prepare("test_worker_by_name"),
      );
      assert.equal((await byName(database.db).execute({ name: "rolled-back" })).length, 0);
      const [kept] = await byName(database.db).execute({ name: "kept" });
      // A prepared builder query maps its rows as drizzle does (a timestamp is a Date).
      assert.equal(kept!.name, "kept");
      assert.ok(kept!.createdAt instanceof Date);
    });
  });
}
