/**
 * Where this package's own files are (package.json, drizzle/, web/dist, openapi/),
 * found by walking up from this module: the same answer from the TypeScript sources
 * (src/…) and from the compiled bundle (dist/…), in a clone or in node_modules.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "codetether") return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the codetether package above ${from}`);
  }
}

export const packageRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path inside the package. */
export const packagePath = (...parts: string[]) => path.join(packageRoot, ...parts);

/** The package's version, from its package.json. */
export const packageVersion = (JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version: string }).version;
