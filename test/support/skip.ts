/**
 * A suite that needs something this machine may lack (Postgres, Chromium, server
 * binaries). Node's summary does not count a skipped `describe`, so a suite that
 * cannot run registers one skipped test naming why: `ℹ skipped` then tells the truth.
 *
 *   describe("the dashboard in Chromium", options, needs(skip, () => { ... }));
 *
 * The `describe` stays in the test file, so the suite is that file's in every report.
 */
import { type SuiteContext, test } from "node:test";

export function needs(skip: string | false, fn: (s: SuiteContext) => void | Promise<void>): (s: SuiteContext) => void | Promise<void> {
  if (skip === false) return fn;
  return () => {
    test(`every test of this suite (${skip})`, { skip }, () => {});
  };
}
