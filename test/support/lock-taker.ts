/**
 * A process that tries to take the data-dir lock at an agreed instant:
 * `lock-taker.ts <dir> <epoch ms>`. It says whether it won, and a winner holds the
 * lock until its standard input closes: however late the other taker starts (a
 * loaded machine), it meets a held lock, never one released after a fixed time.
 */
import { acquireDataDirLock } from "../../src/db/lock.js";

const [dir, at] = process.argv.slice(2);
while (Date.now() < Number(at)) {
  // spin, so both takers start within a millisecond of each other
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
