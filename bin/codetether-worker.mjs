#!/usr/bin/env node
// Runs the compiled worker CLI, like bin/codetether.mjs.
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/worker.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("codetether-worker: not built yet (dist/ is missing): run `npm run build` (npm ci does it)");
  process.exit(2);
}
await import(entry.href);
