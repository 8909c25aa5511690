/**
 * Writes the OpenAPI document the route definitions describe to
 * openapi/openapi.json, or with --check fails when the committed file differs.
 * Needs no database and no OpenCode: only the route definitions are loaded.
 *
 *   node --import tsx scripts/openapi.ts [--check]
 */
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createApi } from "../src/http/api.js";
import { buildDocument, serializeDocument } from "../src/http/document.js";

const file = fileURLToPath(new URL("../openapi/openapi.json", import.meta.url));
const shown = "openapi/openapi.json";

/** The first line where two texts differ, for a message a person can act on. */
function firstDifference(a: string, b: string): string {
  const left = a.split("\n");
  const right = b.split("\n");
  const i = left.findIndex((line, n) => line !== right[n]);
  const at = i === -1 ? left.length : i;
  return `line ${at + 1}: committed ${JSON.stringify(left[at] ?? "<end of file>")}, generated ${JSON.stringify(right[at] ?? "<end of file>")}`;
}

const generated = serializeDocument(buildDocument(createApi()));
if (process.argv.includes("--check")) {
  const committed = await readFile(file, "utf8").catch(() => null);
  if (committed === null) {
    console.error(`${shown} is missing: run npm run openapi and commit it`);
    process.exit(1);
  }
  if (committed !== generated) {
    console.error(`${shown} is out of date with the route definitions: run npm run openapi and commit it`);
    console.error(`  first difference at ${firstDifference(committed, generated)}`);
    process.exit(1);
  }
  console.log(`${shown} is up to date`);
} else {
  await writeFile(file, generated);
  console.log(`wrote ${shown}`);
}
