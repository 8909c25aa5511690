/**
 * Statements whose text drizzle builds once. The hot paths (an append, a claim, a worker's upload, a completion) run
 * the same few statements thousands of times; drizzle walks a statement's whole tree of templates, columns and
 * tables to write its text on every call, which was 15 % of a queued task's CPU (its `is` checks alone 5 %). A
 * compiled statement is built with placeholders (`value("taskId")`) instead of values, turned into text and a list
 * of parameter slots once per shape, and run with the values of each call.
 *
 * Building is per shape: a statement whose text depends on the call (an optional CTE, a routing rule) has a key per
 * variant, and its builder may only read what the key says (never a value: the first call's would stay in the text).
 */
import { is, Param, Placeholder, type QueryWithTypings, type SQL, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { type Db, rowsOf } from "./client.js";

/** A parameter of the text: a named value of each call (mapped as its column maps it, when it has one) or a constant. */
type Slot = { name: string; encode?: (value: unknown) => unknown } | { constant: unknown };

interface Compiled {
  text: string;
  typings: QueryWithTypings["typings"];
  slots: Slot[];
}

const dialect = new PgDialect();
const compiled = new Map<string, Compiled>();

/** The placeholder a builder writes where a call's value goes. */
export const value = (name: string): Placeholder => sql.placeholder(name);

/** A call's value that is a JSON array of texts, as an SQL array (of one text for the statement, whatever its length). */
export const textsOf = (name: string): SQL => sql`array(select jsonb_array_elements_text(${value(name)}::jsonb))`;

function compile(statement: SQL): Compiled {
  const query = dialect.sqlToQuery(statement);
  const slots = query.params.map((p): Slot => {
    if (is(p, Placeholder)) return { name: p.name };
    if (is(p, Param) && is(p.value, Placeholder)) {
      const encoder = p.encoder;
      return { name: p.value.name, encode: (v) => encoder.mapToDriverValue(v) };
    }
    return { constant: p };
  });
  return { text: query.sql, typings: query.typings, slots };
}

/** A statement of one call: its text is `build`'s for `key` (built and turned into text on the key's first call). */
export interface CompiledStatement {
  key: string;
  build: () => SQL;
  /** A value for each placeholder (undefined is refused: null is the value for SQL's null). */
  values: Record<string, unknown>;
}

/** Runs `statement` on `db` (a transaction too) and answers its rows. */
export async function runCompiled<R>(db: Db, { key, build, values }: CompiledStatement): Promise<R[]> {
  let statement = compiled.get(key);
  if (!statement) {
    statement = compile(build());
    compiled.set(key, statement);
  }
  const params = statement.slots.map((slot) => {
    if ("constant" in slot) return slot.constant;
    const v = values[slot.name];
    if (v === undefined) throw new Error(`statement ${key}: no value for ${slot.name}`);
    return slot.encode && v !== null ? slot.encode(v) : v;
  });
  const prepared = db._.session.prepareQuery({ sql: statement.text, params, typings: statement.typings } as QueryWithTypings, undefined, undefined, false);
  return rowsOf<R>(await prepared.execute());
}

/**
 * A query of drizzle's builder made once per database (`make` writes it with placeholders and `.prepare`s it), for
 * the lookups of every queued call: a prepared query keeps its text, and drizzle maps its rows as it always does.
 */
export function preparedPerDatabase<P>(make: (db: Db) => P): (db: Db) => P {
  const made = new WeakMap<Db, P>();
  return (db) => {
    let prepared = made.get(db);
    if (!prepared) {
      prepared = make(db);
      made.set(db, prepared);
    }
    return prepared;
  };
}
