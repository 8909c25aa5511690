#!/usr/bin/env node
// Compiles the server and worker (src/ -> dist/) with esbuild, as part of `npm ci` and before the tests: the
// command lines run this JavaScript, not the TypeScript through a loader. Dependencies stay external, except
// postgres.js, which is bundled so the fix in patches/ (applied to node_modules by patch-package) ships with
// dist/ to installs that never run patch-package. Where esbuild is not installed (an install of the packed
// package), the shipped dist/ is used. It also makes the embedded database's seed (src/db/seed.ts), once per PGlite
// version: the seed is kept across builds, as making it costs initdb's 5 s of CPU.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(path.join(root, "src", "cli", "codetether.ts"))) process.exit(0); // a packed install: dist/ is shipped
let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  console.log(existsSync(path.join(root, "dist", "cli", "codetether.js")) ? "server: using the built dist/" : "server: not built (esbuild is not installed)");
  process.exit(0);
}
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => name !== "postgres");
const dist = path.join(root, "dist");
const seeds = "pglite-seed";
for (const entry of existsSync(dist) ? readdirSync(dist) : []) {
  if (entry !== seeds) rmSync(path.join(dist, entry), { recursive: true, force: true });
}
await esbuild.build({
  absWorkingDir: root,
  entryPoints: {
    "cli/codetether": "src/cli/codetether.ts",
    "cli/worker": "src/cli/worker.ts",
    "db/seed": "src/db/seed.ts",
    // Started as a process of its own by src/git/launcher.ts.
    "git/launcher-child": "src/git/launcher-child.ts",
  },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  external: [...external, ...external.map((name) => `${name}/*`)],
  // postgres.js is CommonJS-free ESM but uses require in places esbuild keeps; give the bundle a require.
  banner: { js: 'import { createRequire as __ctCreateRequire } from "node:module"; const require = __ctCreateRequire(import.meta.url);' },
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
});

const { makeSeed, seedFile } = await import(pathToFileURL(path.join(dist, "db", "seed.js")).href);
const seed = seedFile();
if (!existsSync(seed)) {
  // Seeds of other PGlite versions are never read again.
  rmSync(path.join(dist, seeds), { recursive: true, force: true });
  await makeSeed();
  console.log(`server: made the embedded database's seed, ${path.relative(root, seed)}`);
}
