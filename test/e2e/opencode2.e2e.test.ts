/**
 * An OpenCode 2 where an OpenCode 1 used to be must not break runs: an `opencode`
 * 2.x first on PATH is passed over for the pinned 1.x (and /status says so), and an
 * external server that speaks OpenCode 2's API gets a clear error instead of runs
 * that fail in odd ways.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { chooseOpencodeBinary, findOpencodeBinary } from "../../src/opencode/binary.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { pgliteDriver } from "../support/db.js";
import { createHarness, testConfig } from "../support/harness.js";

/** An `opencode` that says it is 2.x and would serve OpenCode 2's API (it is never started). */
async function fakeOpencode2(dir: string): Promise<string> {
  const bin = path.join(dir, "opencode");
  await writeFile(bin, '#!/bin/sh\nif [ "$1" = "--version" ]; then echo 2.0.1; exit 0; fi\necho "this is not the 1.x API" >&2\nexit 3\n');
  await chmod(bin, 0o755);
  return bin;
}

/** A server answering as OpenCode 2 does: its routes under /api, nothing at /global/health (or a 2.x version there). */
async function serverOf(kind: "api-routes" | "v2-health"): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (kind === "v2-health" && req.url === "/global/health")
      return res.writeHead(200, { "content-type": "application/json" }).end('{"healthy":true,"version":"2.1.0"}');
    if (kind === "api-routes" && req.url === "/api/health") return res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

describe("an OpenCode 2 on PATH or at OPENCODE_HOST", { timeout: 300_000 }, () => {
  let dir: string;
  let fake: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ct-oc2-"));
    fake = await fakeOpencode2(dir);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("a 2.x first on PATH, or named by OPENCODE_BIN, is passed over for the pinned 1.x", async () => {
    const pinned = findOpencodeBinary(undefined, "");
    assert.ok(pinned, "the pinned opencode-ai is installed");
    for (const choice of [await chooseOpencodeBinary(undefined, `${dir}${path.delimiter}${process.env.PATH}`), await chooseOpencodeBinary(fake)]) {
      assert.equal(choice.binary, pinned);
      assert.match(choice.version ?? "", /^1\./);
      assert.deepEqual(choice.skipped, { binary: fake, version: "2.0.1" });
    }
    const plain = await chooseOpencodeBinary(undefined, "");
    assert.equal(plain.skipped, null);
    // The pinned one's version comes from its package, without starting it: it must be what the binary says.
    const { stdout } = await promisify(execFile)(pinned, ["--version"]);
    assert.equal(plain.version, stdout.trim().split("\n").at(-1));
  });

  test("/status says which opencode was passed over and why", async () => {
    const h = await createHarness(pgliteDriver, { opencode: { ...testConfig().opencode, binary: fake } });
    try {
      const status = await (await h.request("GET", "/v1/opencode/status")).json();
      assert.match(status.opencode_version, /^1\./);
      assert.equal(status.opencode_skipped.binary, fake);
      assert.equal(status.opencode_skipped.version, "2.0.1");
      assert.match(status.opencode_skipped.message, /OpenCode 2\.0\.1, whose API this CodeTether does not speak yet: the pinned .* runs instead/);
    } finally {
      await h.close();
    }
  });

  for (const kind of ["api-routes", "v2-health"] as const) {
    test(`an external OpenCode 2 (${kind === "api-routes" ? "routes under /api" : "2.x in its health answer"}) is refused with a clear error`, async () => {
      const oc2 = await serverOf(kind);
      const base = testConfig();
      const h = await createHarness(pgliteDriver, { opencode: { ...base.opencode, host: "127.0.0.1", port: oc2.port, autoStart: true } });
      try {
        await assert.rejects(h.ctx.bridge.connection.ensure(), /whose API this CodeTether does not speak yet/);
        const status = await (await h.request("GET", "/v1/opencode/status")).json();
        assert.equal(status.opencode_server.state, "failed");
        assert.match(status.opencode_server.last_error, /Point OPENCODE_HOST\/OPENCODE_PORT at an OpenCode 1\.x server/);
        const ready = await h.request("GET", "/ready");
        assert.equal(ready.status, 503);
      } finally {
        await h.close();
        await oc2.close();
      }
    });
  }

  describe("a managed server with a 2.x first on PATH", () => {
    let s: AgentServer;
    const path0 = process.env.PATH;
    before(async () => {
      // This process's PATH is what the bridge searches (each test file runs in a process of its own).
      process.env.PATH = `${dir}${path.delimiter}${path0}`;
      s = await startAgentServer();
    });
    after(async () => {
      process.env.PATH = path0;
      await s.close();
    });

    test("runs the pinned 1.x, and runs work", async () => {
      const status = (await s.api("GET", "/v1/opencode/status")).body;
      assert.equal(status.opencode_server.state, "ready", JSON.stringify(status.opencode_server));
      assert.match(status.opencode_server.version, /^1\./);
      assert.equal(status.opencode_skipped.binary, fake);
      const code = await s.sandbox.createCodebase("oc2");
      const cb = await s.api("POST", "/v1/opencode/codebases", { name: "oc2", path: code });
      s.llm.setScript([{ text: "Running on the pinned OpenCode." }]);
      const run = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "hello" });
      assert.equal(run.status, 202, JSON.stringify(run.body));
      assert.equal(run.body.status, "running");
    });
  });
});
