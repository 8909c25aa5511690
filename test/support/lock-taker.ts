/** A process that tries to take the data-dir lock at an agreed instant: `lock-taker.ts <dir> <epoch ms>`. */
import { acquireDataDirLock } from "../../src/db/lock.js";

const [dir, at] = process.argv.slice(2);
while (Date.now() < Number(at)) {
  // spin, so both takers start within a millisecond of each other
}
try {
  const release = acquireDataDirLock(dir!);
  console.log("won");
  setTimeout(() => {
    release();
    process.exit(0);
  }, 700);
} catch (err) {
  console.log((err as Error).name === "DataDirLockedError" ? "locked" : `error: ${(err as Error).message}`);
}
