#!/usr/bin/env node
// Runs the compiled CLI (dist/, built from src/ by `npm ci`, `npm run build` and before the tests).
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/codetether.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("codetether: not built yet (dist/ is missing): run `npm run build` (npm ci does it)");
  process.exit(2);
}
await import(entry.href);
