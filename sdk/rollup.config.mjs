/**
 * Builds dist/index.js (ESM, dependencies left as imports) and dist/index.d.ts (one
 * self-contained declaration file). The sources import the server's router only as a
 * type; the declaration bundle inlines the types that reaches and nothing else.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { dts } from "rollup-plugin-dts";
import ts from "typescript";

const input = "src/index.ts";
/** Bare specifiers (packages) stay imports; relative ones are bundled. */
const external = (id) => !id.startsWith(".") && !path.isAbsolute(id);

/** Strips types file by file with TypeScript itself (the sources are isolatedModules-clean). */
function transpile() {
  return {
    name: "transpile-ts",
    // Sources import "./x.js" as NodeNext wants; the file on disk is x.ts.
    resolveId(source, importer) {
      if (!importer || !source.startsWith(".") || !source.endsWith(".js")) return null;
      const file = path.resolve(path.dirname(importer), source.replace(/\.js$/, ".ts"));
      return existsSync(file) ? file : null;
    },
    transform(code, id) {
      if (!id.endsWith(".ts")) return null;
      const out = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true, sourceMap: true },
      });
      return { code: out.outputText, map: out.sourceMapText };
    },
  };
}

export default [
  {
    input,
    external,
    output: { file: "dist/index.js", format: "es" },
    plugins: [transpile()],
  },
  {
    input,
    external,
    output: { file: "dist/index.d.ts", format: "es" },
    plugins: [dts({ tsconfig: "tsconfig.build.json" })],
  },
];
