#!/usr/bin/env node
// After `npm ci` in a clone: apply patches/ (patch-package), compile the server (dist/) and build the dashboard
// (web/dist). In an install of the packed package there is nothing to do: dist/ and web/dist are shipped.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(path.join(root, "src")) || !existsSync(path.join(root, "patches"))) process.exit(0);
const steps = [
  [path.join(root, "node_modules", "patch-package", "index.js")],
  [path.join(root, "scripts", "build-server.mjs")],
  [path.join(root, "scripts", "build-web.mjs")],
];
for (const args of steps) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
