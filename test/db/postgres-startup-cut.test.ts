/**
 * postgres.js asks a new connection for Postgres's array types before anything else, and nothing awaited that
 * question: a connection cut while it was asked (a database restarting, a proxy dropping it) became an unhandled
 * rejection, which ends a Node process. patches/postgres+3.4.9.patch catches it; the connection's own error
 * handling already answers what waits on it. Here a real Postgres sits behind a proxy that cuts the connection
 * at exactly that question, answering it as Postgres answers for a backend terminated then.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createDb, type Database } from "../../src/db/client.js";
import { type DroppingProxy, databaseBehindProxy } from "../support/proxy.js";
import { needs } from "../support/skip.js";

const baseUrl = process.env.DATABASE_URL?.trim();

/** What Postgres sends a backend that `pg_terminate_backend` ends: an ErrorResponse, FATAL 57P01. */
function terminatedBackend(): Buffer {
  const field = (code: string, value: string) => Buffer.concat([Buffer.from(code), Buffer.from(value), Buffer.from([0])]);
  const fields = Buffer.concat([
    field("S", "FATAL"),
    field("V", "FATAL"),
    field("C", "57P01"),
    field("M", "terminating connection due to administrator command"),
    Buffer.from([0]),
  ]);
  const length = Buffer.alloc(4);
  length.writeInt32BE(fields.length + 4);
  return Buffer.concat([Buffer.from("E"), length, fields]);
}

describe(
  "a Postgres connection cut while postgres.js asks for its array types",
  {},
  needs(baseUrl ? false : "needs DATABASE_URL", () => {
    let proxy: DroppingProxy;
    let drop: () => Promise<void>;
    let database: Database;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);

    before(async () => {
      const behind = await databaseBehindProxy(baseUrl!);
      ({ proxy, drop } = behind);
      process.on("unhandledRejection", onUnhandled);
      database = await createDb({ driver: "postgres", url: behind.url, maxConnections: 1 });
    });
    after(async () => {
      process.off("unhandledRejection", onUnhandled);
      await database.close();
      await proxy.close();
      await drop();
    });

    test("is no unhandled rejection; the next query is answered", async () => {
      const cut = proxy.cutOn("pg_catalog.pg_type", terminatedBackend());
      const first = database.db.execute("select 1 as one").then(
        () => "answered",
        (err: unknown) => err,
      );
      await cut;
      await first; // answered on a new connection, or refused with the cut's error: either is the caller's to see
      const [row] = (await database.db.execute("select 2 as two")) as unknown as { two: number }[];
      assert.equal(Number(row!.two), 2);
      // An unhandled rejection is reported after the microtasks of the turn it happened in.
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled, []);
    });
  }),
);
