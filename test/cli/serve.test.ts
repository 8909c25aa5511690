import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, startCli } from "../support/cli.js";

const pkg = (await import("../../package.json", { with: { type: "json" } })).default;

describe("codetether CLI", () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "ct-cli-"));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  // No OpenCode for these: the server would start one with this machine's own home and network.
  const env = () => ({ CODETETHER_DATA_DIR: dataDir, DATABASE_URL: "", CODETETHER_API_KEY: "", OPENCODE_AUTO_START: "false", OPENCODE_PORT: "9" });

  test("--version and --help", async () => {
    const v = await runCli(["--version"]);
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), pkg.version);
    const h = await runCli(["serve", "--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /--port <port>/);
    assert.match(h.stdout, /--host <host>/);
  });

  test("a CODETETHER_API_KEY of only whitespace refuses to start instead of turning auth off", async () => {
    for (const blank of ["   ", "\t", " \n "]) {
      const res = await runCli(["serve", "--port", "0"], { ...env(), CODETETHER_API_KEY: blank });
      assert.equal(res.code, 2, JSON.stringify(blank));
      assert.match(res.stderr, /CODETETHER_API_KEY is set but blank/);
    }
    const token = await runCli(["serve", "--port", "0"], { ...env(), CODETETHER_WORKER_TOKEN: "  " });
    assert.equal(token.code, 2);
    assert.match(token.stderr, /CODETETHER_WORKER_TOKEN is set but blank/);
  });

  test("bad flags exit 2 with a reason", async () => {
    const bad = await runCli(["serve", "--port", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port must be a number/);
    const unknown = await runCli(["serve", "--bogus"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /bogus/);
    const cmd = await runCli(["launch"]);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command/);
  });

  test("serves on the embedded database, refuses a second process, lets in-flight requests finish on SIGTERM", async () => {
    const server = await startCli(["serve", "--port", "0"], env());
    assert.match(server.logLine, /listening on http:\/\/127\.0\.0\.1:\d+ \(database: embedded PGlite at .*\/db\)/);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);

    // A second server on the same data directory must refuse, naming the holder.
    const second = await startCli(["serve", "--port", "0"], env()).then(
      () => assert.fail("second server started"),
      (err: { code: number; output: string }) => err,
    );
    assert.equal(second.code, 2);
    assert.match(second.output, new RegExp(`in use by another codetether process \\(pid ${server.child.pid}\\)`));

    // Start a request, send half its body, stop the server, then send the rest.
    const body = JSON.stringify({ name: "inflight", path: dataDir });
    const url = new URL(`${server.url}/v1/opencode/codebases`);
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        server.child.kill("SIGTERM");
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 200);
    });
    const res = await response;
    assert.equal(res.status, 201, res.body);
    const { code } = await server.exited;
    assert.equal(code, 0);
    assert.match(server.output(), /SIGTERM received/);
    assert.match(server.output(), /stopped/);

    // The codebase survived the restart.
    const again = await startCli(["serve", "--port", "0"], env());
    const list = (await (await fetch(`${again.url}/v1/opencode/codebases`)).json()) as { name: string }[];
    assert.deepEqual(
      list.map((c) => c.name),
      ["inflight"],
    );
    again.child.kill("SIGINT");
    assert.equal((await again.exited).code, 0);
  });

  test("recovers after kill -9: the stale lock is taken over and acknowledged writes are there", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "ct-kill-"));
    try {
      const e = { ...env(), CODETETHER_DATA_DIR: dir };
      for (let i = 0; i < 3; i++) {
        const server = await startCli(["serve", "--port", "0"], e);
        const res = await fetch(`${server.url}/v1/opencode/codebases`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: `k${i}`, path: dir }),
        });
        assert.equal(res.status, 201);
        server.child.kill("SIGKILL");
        await server.exited;
      }
      const server = await startCli(["serve", "--port", "0"], e);
      const list = (await (await fetch(`${server.url}/v1/opencode/codebases`)).json()) as { name: string }[];
      assert.deepEqual(
        list.map((c) => c.name),
        ["k0", "k1", "k2"],
      );
      server.child.kill("SIGTERM");
      assert.equal((await server.exited).code, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("warns when listening beyond loopback without an API key", async () => {
    // On the data directory the tests before made (a new one would pay the embedded database's initdb again).
    const server = await startCli(["serve", "--port", "0", "--host", "0.0.0.0"], env());
    try {
      assert.match(server.output(), /"level":40,.*listening on 0\.0\.0\.0 without CODETETHER_API_KEY/);
    } finally {
      // Stopped even when the check fails: a server on 0.0.0.0 must not outlive the test.
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});
