#!/usr/bin/env node
// Finds every test/**/*.test.ts (or the files given), compiles them (build-tests.mjs) and runs them with Node's test runner.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { buildTests, sourceOf } from "./build-tests.mjs";

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "support" || e.name === "node_modules" ? [] : find(p);
    return e.name.endsWith(".test.ts") ? [p] : [];
  });
}

// The command lines the tests start run dist/: build it from the sources as they are now (well under a second).
const built = spawnSync(process.execPath, ["scripts/build-server.mjs"], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

mkdirSync(".tmp", { recursive: true });
const durations = path.resolve(".tmp", "test-durations.tsv");
rmSync(durations, { force: true });
// The slow files (real OpenCode, Chromium, packed installs, child processes) start first, the ones that take a
// minute or more first of all (the top of the ten-slowest list of recent runs), so that no worker is left with one
// of them at the end while the others are idle. node --test starts files in the order of their paths, whatever
// order it is given them in: buildTests puts each bundle in a folder numbered by its place in this order.
const longest = [
  "sdk/sdk.e2e",
  "web/dashboard.e2e",
  "e2e/postgres-faults.e2e",
  "cli/package",
  "e2e/models.e2e",
  "e2e/queue.e2e",
  "e2e/worktrees.e2e",
  "e2e/run-lifecycle.e2e",
  "cli/serve",
].map((name) => path.join("test", `${name}.test.ts`));
const rank = (file) => {
  const known = longest.indexOf(path.normalize(file));
  if (known >= 0) return known;
  return longest.length + (/\.e2e\.test\.ts$|[/\\](cli|webhooks|db)[/\\]/.test(file) ? 0 : 1);
};
const files = process.argv.length > 2 ? process.argv.slice(2) : find("test").sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const bundles = await buildTests(files);
// Three at a time on two cores: much of an end-to-end file's time is waiting (leases running out, workers going
// silent, a model streaming slowly), which a third file fills with work (337 s against 382 s for the suite here).
const concurrency = process.env.TEST_CONCURRENCY ?? "3";
const child = spawn(
  process.execPath,
  // --test-force-exit: a file whose tests all ended must not hold the whole run (and CI) open on a leaked handle.
  [
    // A test process lives seconds: V8's optimizing compile of PGlite's WebAssembly (on background threads) costs
    // it about a second of CPU it never earns back; its baseline code is enough (the same tests, ~1 s less per file).
    "--liftoff-only",
    "--enable-source-maps",
    "--test",
    "--test-force-exit",
    `--test-concurrency=${concurrency}`,
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    // And each file's time, for the ten slowest printed after the summary.
    "--test-reporter=./scripts/slowest-files.mjs",
    "--test-reporter-destination=stdout",
    ...bundles,
  ],
  // CODETETHER_TEST_RUN: the files share what is built once per run (the SDK, see test/support/sdk-build.ts).
  { stdio: "inherit", env: { ...process.env, CODETETHER_TEST_DURATIONS: durations, CODETETHER_TEST_RUN: String(process.pid) } },
);

/** The ten files that took longest, summed over their top-level suites and tests. */
function slowestFiles() {
  if (!existsSync(durations)) return "";
  const byFile = new Map();
  for (const line of readFileSync(durations, "utf8").split("\n")) {
    const [ms, bundle] = line.split("\t");
    if (!bundle) continue;
    const file = sourceOf(bundle);
    byFile.set(file, (byFile.get(file) ?? 0) + Number(ms));
  }
  const top = [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
  return `\nThe ten slowest test files:\n${top.map(([file, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${path.relative(process.cwd(), file)}`).join("\n")}\n`;
}
child.on("exit", (code, signal) => {
  process.stdout.write(slowestFiles());
  process.exit(code ?? (signal ? 1 : 0));
});
