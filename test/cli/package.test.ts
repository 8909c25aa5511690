/**
 * The server package as a user gets it: `npm pack`ed, installed from the tarball into
 * an empty directory with no repository around it, and run there: `npx codetether
 * serve` answers /health and serves the dashboard, `npx codetether-worker --help`
 * answers, and the tarball holds the compiled code (and the embedded database's seed), not the TypeScript sources.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { freePort } from "../../src/opencode/process.js";
import { repoRoot } from "../support/cli.js";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const quiet = { ...process.env, OPENCODE_AUTO_START: "false", OPENCODE_PORT: "9", DATABASE_URL: "", CODETETHER_API_KEY: "" };

describe("codetether, packed and installed like a user's", { timeout: 900_000 }, () => {
  let work: string;
  let consumer: string;
  let tarball: string;
  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "ct-pack-"));
    consumer = path.join(work, "consumer");
    await mkdir(consumer);
    // dist/ is built by the test runner; --ignore-scripts: nothing else may sneak into the tarball.
    await run(npm, ["pack", "--ignore-scripts", "--pack-destination", work], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    const packed = (await readdir(work)).filter((f) => f.endsWith(".tgz"));
    assert.equal(packed.length, 1, packed.join(", "));
    tarball = path.join(work, packed[0]!);
    await writeFile(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true }));
    await run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--no-package-lock", tarball], { cwd: consumer, maxBuffer: 16 * 1024 * 1024 });
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("the tarball ships compiled JavaScript, migrations, the dashboard and the OpenAPI document, not the sources", async () => {
    const { stdout } = await run("tar", ["-tzf", tarball]);
    const files = stdout.trim().split("\n");
    for (const needed of [
      "package/bin/codetether.mjs",
      "package/dist/cli/codetether.js",
      "package/dist/cli/worker.js",
      // git starts from it (src/git/launcher.ts); without it the server would fork git itself, at 50 ms a call.
      "package/dist/git/launcher-child.js",
      "package/web/dist/index.html",
      "package/openapi/openapi.json",
    ]) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    assert.ok(
      files.some((f) => f.startsWith("package/drizzle/") && f.endsWith(".sql")),
      "migrations",
    );
    // The embedded database's seed, for the PGlite the package depends on (src/db/seed.ts), and nothing half written.
    const { dependencies } = JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8"));
    assert.deepEqual(
      files.filter((f) => f.startsWith("package/dist/pglite-seed/")),
      [`package/dist/pglite-seed/${dependencies["@electric-sql/pglite"]}.tar.gz`],
    );
    assert.deepEqual(
      files.filter((f) => f.startsWith("package/src/") || f.startsWith("package/test/") || f.endsWith(".ts")),
      [],
      "no TypeScript",
    );
    const manifest = JSON.parse(await readFile(path.join(consumer, "node_modules", "codetether", "package.json"), "utf8"));
    for (const field of ["name", "version", "bin", "files", "engines", "license", "repository"]) assert.ok(manifest[field], `package.json has ${field}`);
    assert.equal(manifest.private, undefined, "publishable");
    assert.equal(manifest.dependencies.tsx, undefined, "no TypeScript loader at run time");
  });

  test("npx codetether --version and npx codetether-worker --help answer", async () => {
    const { version } = JSON.parse(await readFile(path.join(repoRoot, "package.json"), "utf8"));
    const v = await run("npx", ["--no-install", "codetether", "--version"], { cwd: consumer, env: quiet });
    assert.equal(v.stdout.trim(), version);
    const help = await run("npx", ["--no-install", "codetether-worker", "--help"], { cwd: consumer, env: quiet });
    assert.match(help.stdout, /Usage: codetether-worker --server/);
  });

  test("npx codetether serve runs there: /health, the dashboard, the API on its embedded database", async () => {
    const port = await freePort();
    // The bin npx runs, started directly so that stopping it stops the server (npx would stand in between).
    const child = execFile(path.join(consumer, "node_modules", ".bin", "codetether"), ["serve", "--port", String(port)], {
      cwd: consumer,
      env: { ...quiet, CODETETHER_DATA_DIR: path.join(work, "data") },
    });
    let output = "";
    child.stdout?.on("data", (c) => (output += c));
    child.stderr?.on("data", (c) => (output += c));
    try {
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        const ok = await fetch(`${base}/health`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        assert.ok(i < 600 && child.exitCode === null, `serve did not come up:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="root">/);
      const made = await fetch(`${base}/v1/opencode/codebases`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "installed", path: work }),
      });
      assert.equal(made.status, 201, await made.text());
      const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { info: { title: string } };
      assert.equal(doc.info.title, "CodeTether API");
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  });
});
