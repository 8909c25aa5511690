/**
 * A new embedded database starts from a seed: the empty cluster PGlite's initdb makes, dumped once when the server is
 * built (scripts/build-server.mjs) and shipped in dist/ (4.5 MB). A new data directory gets the seed's files written
 * into it, and PGlite then opens it as a database that exists: a server's first start on a new directory costs about
 * 6.3 s of CPU instead of 11.5 (initdb, and a second start to give back the half gigabyte initdb grows the heap by).
 * The migrations then run on it as on any new database. The seed is named by the PGlite version that made it: another
 * version (an upgrade without a rebuild) finds none and runs initdb as before.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { extract } from "tar";
import { packagePath } from "../package-root.js";

let installedVersion: string | undefined;

/** The installed PGlite's version, from its package.json (which its exports do not name, so found beside its entry). */
function pgliteVersion(): string {
  installedVersion ??= findPgliteVersion();
  return installedVersion;
}

function findPgliteVersion(): string {
  for (let dir = path.dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite")); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest)) {
      const { name, version } = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string; version: string };
      if (name === "@electric-sql/pglite") return version;
    }
    if (path.dirname(dir) === dir) throw new Error("cannot find @electric-sql/pglite's package.json");
  }
}

/** Where the seed for the installed PGlite is (or would be). */
export function seedFile(): string {
  return packagePath("dist", "pglite-seed", `${pgliteVersion()}.tar.gz`);
}

/** The seed as the Blob PGlite's `loadDataDir` reads, or undefined when there is none (this build has none for this PGlite). */
export async function readSeed(file: string): Promise<Blob | undefined> {
  const bytes = await readFile(file).catch(() => undefined);
  return bytes && new Blob([bytes], { type: "application/x-gzip" });
}

/** Inside a data directory while the seed is being written into it: a start that died halfway left it. */
const planting = ".codetether-seeding";

/** Whether `dataDir` holds no database yet, or only part of the seed. */
export function needsSeed(dataDir: string): boolean {
  return !existsSync(path.join(dataDir, "PG_VERSION")) || existsSync(path.join(dataDir, planting));
}

/**
 * Writes the seed's files (from `file`) into `dataDir` and says whether there was a seed to write. A start that dies
 * halfway leaves the marker behind, and the next one writes the seed again over what it finds.
 */
export async function plantSeed(dataDir: string, file: string): Promise<boolean> {
  if (!existsSync(file)) return false;
  const marker = path.join(dataDir, planting);
  await writeFile(marker, "");
  // The dump's paths are absolute (/PG_VERSION, /base/…); tar makes them relative to `cwd`. The dump was taken from
  // a running database: its postmaster.pid names a process that is long gone.
  extract({ file, cwd: dataDir, sync: true, preserveOwner: false, noMtime: true, filter: (entry) => entry.replace(/^\/+/, "") !== "postmaster.pid" });
  await rm(marker);
  return true;
}

/** Makes the seed at seedFile(): initdb in memory, then a gzipped dump. */
export async function makeSeed(): Promise<void> {
  const file = seedFile();
  const pg = new PGlite();
  try {
    await pg.waitReady;
    const dump = new Uint8Array(await (await pg.dumpDataDir("gzip")).arrayBuffer());
    await mkdir(path.dirname(file), { recursive: true });
    // Written whole, then renamed: a server starting meanwhile finds all of it or none.
    const partial = `${file}.${process.pid}.part`;
    await writeFile(partial, dump);
    await rename(partial, file);
  } finally {
    await pg.close();
  }
}
