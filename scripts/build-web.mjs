#!/usr/bin/env node
// Builds the dashboard (web/ -> web/dist) as part of `npm ci`, so `npm start` serves it on a fresh clone.
// Where the build tools are not installed (a production install of a packed release), the shipped web/dist is used.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const vite = path.join(root, "node_modules", "vite", "bin", "vite.js");
if (!existsSync(vite) || !existsSync(path.join(root, "web", "vite.config.ts"))) {
  console.log(
    existsSync(path.join(root, "web", "dist", "index.html")) ? "dashboard: using the built web/dist" : "dashboard: not built (vite is not installed)",
  );
  process.exit(0);
}
const result = spawnSync(process.execPath, [vite, "build", "--config", "web/vite.config.ts", "--logLevel", "warn"], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
