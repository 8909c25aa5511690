/**
 * How many events one stream stores and delivers per second: a producer appends
 * as fast as the log takes them (grouped commits) while an SSE client reads them live.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { NewEvent } from "../src/contracts/events.js";
import type { TestDriver } from "../test/support/db.js";
import { connectSse } from "../test/support/sse-client.js";
import { checkoutAt } from "./checkout.js";

/** Events per second stored, and stored and delivered, on `driver`'s database (the server of the checkout at `root`: BENCH_BEFORE). */
export async function benchEventStream(driver: TestDriver, total = 20_000, root?: string): Promise<{ stored: number; delivered: number }> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-bench-"));
  const checkout = await checkoutAt(root);
  const db = await checkout.driverOf(driver).create();
  const server = await checkout.startServer({ config: checkout.testConfig({ dataDir: tmp }), database: db.database });
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
    return { stored: (total / stored) * 1000, delivered: (total / delivered) * 1000 };
  } finally {
    await server.close(1000);
    await db.drop();
    await rm(tmp, { recursive: true, force: true });
  }
}
