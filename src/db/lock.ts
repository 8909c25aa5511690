/**
 * A lock file guarding an embedded PGlite data directory: two processes on one
 * directory would corrupt it. The holder is named by pid, process start time and
 * boot id, so a lock whose pid now belongs to another process (after a reboot or a
 * container restart) is seen to be stale. The lock is created whole in one atomic
 * step (a hard link of a finished file), and a stale one is taken over under a
 * guard file created exclusively, so two processes can never both win it.
 */
import { randomUUID } from "node:crypto";
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
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

interface Holder {
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat), where the OS says. */
  start: string | null;
  boot: string | null;
}

function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

const bootId = () => readOr(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), null);

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
const startTime = (pid: number) =>
  readOr(() => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  }, null);

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A holder's process still runs: same boot, pid alive, and (where known) the same process start time. */
function isAlive(holder: Holder): boolean {
  const boot = bootId();
  if (holder.boot && boot && holder.boot !== boot) return false;
  if (!pidExists(holder.pid)) return false;
  const start = startTime(holder.pid);
  return !(holder.start && start && holder.start !== start);
}

/** The lock's content: JSON, or a bare pid as older versions wrote it. */
function parseHolder(text: string): Holder | null {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h === "number") return { pid: h, start: null, boot: null };
    if (typeof h?.pid === "number") return { pid: h.pid, start: h.start ?? null, boot: h.boot ?? null };
  } catch {}
  return null;
}

const takeoverGuardStaleMs = 10_000;

/** Takes the lock or throws `DataDirLockedError`; returns the release function. */
export function acquireDataDirLock(dataDir: string): () => void {
  const lockPath = path.join(dataDir, "codetether.lock");
  const guardPath = `${lockPath}.takeover`;
  const mine = JSON.stringify({ pid: process.pid, start: startTime(process.pid), boot: bootId() } satisfies Holder);
  const staged = `${lockPath}.${process.pid}.${randomUUID()}`;
  writeFileSync(staged, mine);
  const release = () => {
    // Only our own lock: never one that another process took over meanwhile.
    if (readOr(() => readFileSync(lockPath, "utf8"), null) === mine) rmSync(lockPath, { force: true });
  };
  try {
    for (let tries = 0; tries < 50; tries++) {
      try {
        linkSync(staged, lockPath); // appears whole, or not at all (EEXIST)
        return once(release);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const seen = readOr(() => readFileSync(lockPath, "utf8"), null);
      if (seen === null) continue; // released meanwhile: try again
      const holder = parseHolder(seen);
      if (holder && holder.pid !== process.pid && isAlive(holder)) throw new DataDirLockedError(dataDir, holder.pid);
      // Stale (its holder is gone) or unreadable: take it over, one process at a time.
      if (!takeGuard(guardPath)) {
        sleep(20);
        continue;
      }
      try {
        if (readOr(() => readFileSync(lockPath, "utf8"), null) === seen) {
          renameSync(staged, lockPath); // replaces the stale lock in one step
          return once(release);
        }
      } finally {
        rmSync(guardPath, { force: true });
      }
    }
    throw new Error(`Could not take the lock on ${dataDir}`);
  } finally {
    rmSync(staged, { force: true });
  }
}

/** Creates the takeover guard exclusively; clears one left by a process that died mid-takeover. */
function takeGuard(guardPath: string): boolean {
  try {
    closeSync(openSync(guardPath, "wx"));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const age = readOr(() => Date.now() - statSync(guardPath).mtimeMs, 0);
    if (age > takeoverGuardStaleMs) rmSync(guardPath, { force: true });
    return false;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** A short synchronous pause (start-up only, while another process finishes its takeover). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
