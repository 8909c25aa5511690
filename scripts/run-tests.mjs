#!/usr/bin/env node
// Finds every test/**/*.test.ts (or the files given) and runs them with Node's test runner through tsx.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

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

const files = process.argv.length > 2 ? process.argv.slice(2) : find("test").sort();
const concurrency = process.env.TEST_CONCURRENCY ?? "2";
const child = spawn(
  process.execPath,
  // --test-force-exit: a file whose tests all ended must not hold the whole run (and CI) open on a leaked handle.
  ["--import", "tsx", "--test", "--test-force-exit", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
  { stdio: "inherit" },
);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
