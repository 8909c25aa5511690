/**
 * `GET /openapi.json` (the API's OpenAPI document) and `GET /docs` (Swagger UI
 * over it, its assets served from the installed swagger-ui-dist, so it works
 * offline). All three stay open: they are registered outside /v1 and /trpc.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { compress } from "hono/compress";
import { buildDocument, serializeDocument } from "./document.js";
import { detail } from "./errors.js";
import type { Api } from "./openapi.js";

const assetsDir = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

/** The only files served from swagger-ui-dist, with their types; nothing else there is reachable. */
const assets: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>CodeTether API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script>
      window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, persistAuthorization: true });
    </script>
  </body>
</html>
`;

/** Registers /openapi.json, /docs and /docs/assets/*; call after the API routes so the document has them all. */
export function registerDocsRoutes(app: Api): void {
  let document: string | undefined; // the routes do not change once the app is built
  const cache = new Map<string, Promise<Buffer>>();

  app.get("/openapi.json", (c) => {
    document ??= serializeDocument(buildDocument(app));
    return c.body(document, 200, { "content-type": "application/json; charset=utf-8" });
  });
  app.get("/docs", (c) => c.html(page));
  app.get("/docs/assets/:file", compress(), async (c) => {
    const file = c.req.param("file");
    const type = Object.hasOwn(assets, file) ? assets[file] : undefined;
    if (!type) return detail(c, 404, `No route for GET ${c.req.path}`);
    let body = cache.get(file);
    if (!body) {
      body = readFile(path.join(assetsDir, file));
      cache.set(file, body);
    }
    return c.body(new Uint8Array(await body), 200, { "content-type": type, "cache-control": "public, max-age=86400" });
  });
}
