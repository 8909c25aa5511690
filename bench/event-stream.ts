/**
 * How many events one stream stores and delivers per second: a producer appends
 * as fast as the log takes them (grouped commits) while an SSE client reads them live.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { NewEvent } from "../src/contracts/events.js";
import { startServer } from "../src/server.js";
import type { TestDriver } from "../test/support/db.js";
import { testConfig } from "../test/support/harness.js";
import { connectSse } from "../test/support/sse-client.js";

export async function benchEventStream(driver: TestDriver, total = 20_000): Promise<string> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-bench-"));
  const db = await driver.create();
  const server = await startServer({ config: testConfig({ dataDir: tmp }), database: db.database });
  try {
    const res = await fetch(`${server.url}/v1/opencode/codebases`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "rate", path: tmp }),
    });
    const { id } = (await res.json()) as { id: string };
    const sse = await connectSse(`${server.url}/v1/opencode/codebases/${id}/events`);
    const event = (i: number): NewEvent => ({
      type: "output",
      data: { session_id: "ses_bench", message_id: "m", part_id: "p", content: `token ${i} ` },
    });
    const start = performance.now();
    // Like the bridge: one append per event, not awaited one by one; the log groups them.
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      appends.push(server.ctx.events.append(id, [event(i)]));
      if (appends.length >= 1000) await Promise.all(appends.splice(0));
    }
    await Promise.all(appends);
    const stored = performance.now() - start;
    await sse.waitFor(total);
    const delivered = performance.now() - start;
    sse.close();
    const rate = (n: number, t: number) => Math.round((n / t) * 1000).toLocaleString("en-US");
    return `${rate(total, stored)} events/s stored, ${rate(total, delivered)} events/s stored and delivered over SSE (${total.toLocaleString("en-US")} events)`;
  } finally {
    await server.close(1000);
    await db.drop();
    await rm(tmp, { recursive: true, force: true });
  }
}
