/**
 * A suite that needs something this machine may lack (Postgres, Chromium, server
 * binaries). Node's summary does not count a skipped `describe`, so a suite that
 * cannot run registers one skipped test naming why: `ℹ skipped` then tells the truth.
 */
import { describe, type SuiteContext, type TestOptions, test } from "node:test";

export function describeNeeds(skip: string | false, name: string, options: TestOptions, fn: (s: SuiteContext) => void | Promise<void>): void {
  if (skip === false) {
    describe(name, options, fn);
    return;
  }
  describe(name, () => {
    test(`every test of this suite (${skip})`, { skip }, () => {});
  });
}
