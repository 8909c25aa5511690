/**
 * A process that tries to take the data-dir lock the moment a go file appears:
 * `lock-taker.mjs <dir> <go file>`, once test/db/lock.test.ts has bundled it to plain JavaScript. It says "ready"
 * once loaded, then whether it won, and a winner holds the lock until its standard input closes: however late the
 * other taker starts (a loaded machine), it meets a held lock, never one released after a fixed time.
 */
import { existsSync } from "node:fs";
import { acquireDataDirLock } from "../../src/db/lock.js";

const [dir, go] = process.argv.slice(2);
// A taker whose test is gone before it said go (a run killed, say) stops spinning: left alone, two of them took
// both cores of this machine for good.
const parent = process.ppid;
const giveUpAt = Date.now() + 120_000;
console.log("ready");
while (!existsSync(go!)) {
  // spin, so both takers (each told to go by the same file) start within a few microseconds of each other
  if (process.ppid !== parent || Date.now() > giveUpAt) process.exit(1);
}
try {
  const release = acquireDataDirLock(dir!);
  console.log("won");
  process.stdin.resume();
  process.stdin.on("end", () => {
    release();
    process.exit(0);
  });
} catch (err) {
  console.log((err as Error).name === "DataDirLockedError" ? "locked" : `error: ${(err as Error).message}`);
}
