// Compiles the test files for run-tests.mjs: each one bundled with the sources it imports (packages stay imports),
// with esbuild, into .tmp/test-build/<its place in the run>/ at the same relative path (node --test sorts the files
// it is given by path, so the numbered folder is what makes it start them in the order run-tests.mjs chose). A test
// process then starts on plain Node instead of resolving and loading a thousand modules through tsx's loader thread:
// the same code, about a second of CPU less per file (the suite starts ~50 of them). Source maps keep stack traces pointing at the .ts files.
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const testBuildDir = path.join(root, ".tmp", "test-build");

/**
 * Code finds files next to itself through `import.meta.url` (the repository root, the README, fixtures): in a
 * bundle that would be the bundle's address, so each module gets its own source file's address instead.
 */
const ownImportMetaUrl = {
  name: "own-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.tsx?$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      return {
        contents: source.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
        loader: args.path.endsWith(".tsx") ? "tsx" : "ts",
      };
    });
  },
};

/** Builds `files` (paths relative to the repository) and returns the path of each one's bundle, in the same order. */
export async function buildTests(files) {
  await rm(testBuildDir, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: files.map((file, place) => ({ in: file, out: bundleName(file, place) })),
    outdir: testBuildDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    sourcemap: "linked",
    // Error classes and functions keep their names, as tests and logs read them.
    keepNames: true,
    plugins: [ownImportMetaUrl],
    // Dependencies that are CommonJS inside call require; give the bundle one.
    banner: { js: 'import { createRequire as __ctCreateRequire } from "node:module"; const require = __ctCreateRequire(import.meta.url);' },
    logLevel: "warning",
  });
  return files.map((file, place) => path.join(testBuildDir, `${bundleName(file, place)}.mjs`));
}

/** The bundle of the test file that runs `place`-th (from 0), in testBuildDir and without its extension. */
const bundleName = (file, place) => path.join(String(place).padStart(3, "0"), path.relative(root, path.resolve(root, file)).replace(/\.ts$/, ""));

/** The test file a bundle was built from (for what the run prints; with source maps Node often names it already). */
export function sourceOf(file) {
  const [place, ...inRepo] = path.relative(testBuildDir, path.resolve(file)).split(path.sep);
  if (place === ".." || inRepo.length === 0) return path.resolve(file);
  return path.join(root, ...inRepo).replace(/\.mjs$/, ".ts");
}
