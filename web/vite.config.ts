/**
 * The dashboard's build: a React single-page app in web/, bundled into web/dist,
 * which `codetether serve` serves at `/`. It imports the SDK from its sources, so
 * the dashboard is the SDK's first user without a separate SDK build.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  resolve: { alias: { "@codetether/sdk": fileURLToPath(new URL("../sdk/src/index.ts", import.meta.url)) } },
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    rolldownOptions: {
      // TanStack Query marks its files "use client" for React Server Components; meaningless in a plain SPA.
      onLog(level, log, handler) {
        if (log.code !== "MODULE_LEVEL_DIRECTIVE") handler(level, log);
      },
    },
  },
  // The dev server talks to a CodeTether server on :8000 (`npm run dev:web` beside `npm start`).
  server: { proxy: { "/trpc": "http://127.0.0.1:8000", "/v1": "http://127.0.0.1:8000" } },
});
