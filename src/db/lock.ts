/**
 * A pid lock file guarding an embedded PGlite data directory. A lock left by a
 * process that no longer exists (kill -9) is taken over; a live holder is named.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(
      `The embedded database at ${dataDir} is in use by another codetether process (pid ${holderPid}). ` +
        "Stop it, or point CODETETHER_DATA_DIR or DATABASE_URL elsewhere.",
    );
    this.name = "DataDirLockedError";
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the lock or throws `DataDirLockedError`; returns the release function. */
export function acquireDataDirLock(dataDir: string): () => void {
  const lockPath = path.join(dataDir, "codetether.lock");
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number.parseInt(readFileSync(lockPath, "utf8").trim(), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(dataDir, holder);
      }
      rmSync(lockPath, { force: true }); // stale: its holder is gone
    }
  }
  throw new Error(`Could not take the lock on ${dataDir}`);
}
