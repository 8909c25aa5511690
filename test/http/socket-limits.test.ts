/**
 * Silent, slow and piled-up connections against a real socket: each is cut by a
 * documented limit, and an SSE stream is not.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "../../src/server.js";
import { pgliteDriver } from "../support/db.js";
import { testConfig } from "../support/harness.js";
import { connectSse } from "../support/sse-client.js";

interface RawSocket {
  socket: net.Socket;
  received: string;
  closed: Promise<void>;
}

function open(port: number): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const raw: RawSocket = { socket, received: "", closed: new Promise((r) => socket.once("close", () => r())) };
    socket.on("data", (d) => (raw.received += d.toString()));
    socket.on("error", () => {});
    socket.once("connect", () => resolve(raw));
    socket.once("error", reject);
  });
}

describe("socket limits on a real listener", { timeout: 120_000 }, () => {
  let server: RunningServer;
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "ct-sock-"));
    const db = await pgliteDriver.create();
    const config = testConfig({ dataDir: tmp });
    config.http = { headersTimeoutSeconds: 1, requestTimeoutSeconds: 2, keepAliveTimeoutSeconds: 1, maxConnections: 20, maxStreams: 10 };
    server = await startServer({ config, database: db.database });
  });
  after(async () => {
    await server.close(1000);
    await rm(tmp, { recursive: true, force: true });
  });

  test("connections that never send a byte are answered 408 and closed", async () => {
    const silent = await Promise.all(Array.from({ length: 15 }, () => open(server.port)));
    await Promise.all(silent.map((s) => s.closed));
    for (const s of silent) assert.match(s.received, /^HTTP\/1\.1 408/);
  });

  test("a body sent a byte at a time is cut off before it completes", async () => {
    const slow = await open(server.port);
    slow.socket.write("POST /v1/opencode/codebases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n");
    let sent = 0;
    const drip = setInterval(() => {
      if (!slow.socket.destroyed) {
        slow.socket.write("{");
        sent++;
      }
    }, 250);
    await slow.closed;
    clearInterval(drip);
    assert.ok(sent < 200, `cut after ${sent} of 200 bytes`);
    assert.match(slow.received, /^HTTP\/1\.1 408/);
  });

  test("beyond CODETETHER_MAX_CONNECTIONS new connections are refused at once; the server serves again when they go", async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => open(server.port)));
    const extra = await open(server.port);
    await extra.closed; // dropped without an answer
    assert.equal(extra.received, "");
    await Promise.all(held.map((s) => s.closed)); // the silent ones time out
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });

  test("an SSE stream outlives the request timeouts", async () => {
    const cb = await fetch(`${server.url}/v1/opencode/codebases`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "sock", path: tmp }),
    });
    const id = ((await cb.json()) as { id: string }).id;
    const sse = await connectSse(`${server.url}/v1/opencode/codebases/${id}/events`);
    await new Promise((r) => setTimeout(r, 3500)); // past both the 1 s headers and 2 s request timeouts
    await server.ctx.events.append(id, [{ type: "status", data: { session_id: null, status: "running" } }]);
    const [event] = await sse.waitFor(1);
    assert.equal(event!.event, "status");
    sse.close();
  });
});
