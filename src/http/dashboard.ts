/**
 * The web dashboard's static files (web/dist, built by `npm run build:web` on install)
 * at `/`, on the API's own origin. Any other GET that is not an API path gets the
 * app's index.html, so deep links work after a reload. The files need no key; the
 * data they fetch does.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { compress } from "hono/compress";
import { packagePath } from "../package-root.js";
import type { Api } from "./openapi.js";

const dashboardDir = packagePath("web", "dist");

/** Paths that keep their own meaning: never answered with the app. */
const apiPaths = ["/v1", "/trpc", "/docs", "/openapi.json", "/health", "/ready", "/metrics", "/mcp"];
const isApiPath = (p: string) => apiPaths.some((a) => p === a || p.startsWith(`${a}/`));

const types: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

const notBuilt = `<!doctype html><html lang="en"><meta charset="utf-8"><title>CodeTether</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>The dashboard is not built</h1><p>Run <code>npm run build:web</code> (it runs on <code>npm ci</code>) and reload.
The API is up: see <a href="/docs">/docs</a>.</p></body></html>`;

export function registerDashboard(app: Api): void {
  const index = path.join(dashboardDir, "index.html");
  app.get("*", async (c, next) => {
    const p = c.req.path;
    if (isApiPath(p)) return next();
    const file = path.join(dashboardDir, path.normalize(decodeURIComponent(p)));
    const type = types[path.extname(file)];
    if (p !== "/" && type && file.startsWith(`${dashboardDir}${path.sep}`) && existsSync(file)) {
      // Hashed asset names never change content: cache them for good.
      if (p.startsWith("/assets/")) c.header("Cache-Control", "public, max-age=31536000, immutable");
      return c.body(await readFile(file), 200, { "Content-Type": type });
    }
    if (p.startsWith("/assets/")) return next(); // a missing asset is a 404, not the app
    if (!existsSync(index)) return c.html(notBuilt, 200);
    c.header("Cache-Control", "no-cache");
    return c.html(await readFile(index, "utf8"));
  });
}

/** Compresses the dashboard's files (gzip or deflate, as the browser accepts); API answers are left as they are. */
export const compressDashboard = compress();
export { isApiPath };
