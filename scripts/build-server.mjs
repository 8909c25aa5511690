#!/usr/bin/env node
// Compiles the server and worker (src/ -> dist/) with esbuild, as part of `npm ci` and before the tests: the
// command lines run this JavaScript, not the TypeScript through a loader. Dependencies stay external, except
// postgres.js, which is bundled so the fix in patches/ (applied to node_modules by patch-package) ships with
// dist/ to installs that never run patch-package. Where esbuild is not installed (an install of the packed
// package), the shipped dist/ is used.
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

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
rmSync(path.join(root, "dist"), { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: { "cli/codetether": "src/cli/codetether.ts", "cli/worker": "src/cli/worker.ts" },
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
