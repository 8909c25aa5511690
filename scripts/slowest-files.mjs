// A node:test reporter beside the spec one: it notes each test file's top-level suites and tests with their
// wall time as they end (written at once, so an exit forced by --test-force-exit loses nothing), and
// run-tests.mjs prints the ten slowest files from that after the summary.
import { appendFileSync } from "node:fs";

export default async function* noteDurations(source) {
  const out = process.env.CODETETHER_TEST_DURATIONS;
  for await (const event of source) {
    if (!out || (event.type !== "test:pass" && event.type !== "test:fail") || event.data.nesting !== 0 || !event.data.file) continue;
    appendFileSync(out, `${event.data.details?.duration_ms ?? 0}\t${event.data.file}\n`);
  }
  yield "";
}
