/**
 * The dashboard's budgets, measured in Debian's Chromium against a warm server on
 * the embedded database: what the first load transfers (compressed), how long from
 * navigation to the codebases list on screen, and whether the run view keeps up
 * with 1,000 events a second (long tasks seen by the browser's Performance API).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { NewEvent } from "../src/contracts/events.js";
import { startServer } from "../src/server.js";
import { launchChromium } from "../test/support/chromium.js";
import { pgliteDriver } from "../test/support/db.js";
import { testConfig } from "../test/support/harness.js";
import { summary } from "./stats.js";

const exec = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, "..");

/** Bytes on the wire for the page and what it loads first, as the server compresses them. */
async function firstLoadBytes(origin: string): Promise<{ total: number; files: string[] }> {
  const html = await fetch(origin, { headers: { "accept-encoding": "gzip" } });
  const body = await html.text();
  const assets = [...body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  // fetch() decodes gzip, so the page itself is counted as it arrives, like its assets.
  let total = await compressedSize(origin);
  const files: string[] = [];
  for (const asset of assets) {
    const size = await compressedSize(`${origin}${asset}`);
    total += size;
    files.push(`${path.basename(asset)} ${(size / 1024).toFixed(1)} KB`);
  }
  return { total, files };
}

async function compressedSize(url: string): Promise<number> {
  const http = await import("node:http");
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { "accept-encoding": "gzip" } }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => (n += c.length));
        res.on("end", () => resolve(n));
      })
      .on("error", reject);
  });
}

export async function benchDashboard(): Promise<Record<string, string>> {
  await exec("npm", ["run", "build:web"], { cwd: repoRoot });
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-bench-web-"));
  const db = await pgliteDriver.create();
  const server = await startServer({ config: testConfig({ dataDir: tmp }), database: db.database });
  const browser = await launchChromium();
  try {
    const api = (p: string, body: unknown) =>
      fetch(`${server.url}${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(
        (r) => r.json() as Promise<{ id: string }>,
      );
    for (let i = 0; i < 20; i++) await api("/v1/opencode/codebases", { name: `app${i}`, path: tmp, description: `Codebase ${i}` });
    const { total, files } = await firstLoadBytes(server.url);

    // Navigation → the codebases list on screen, warm server, fresh page each time (the browser cache is per page context).
    const times: number[] = [];
    for (let run = 0; run < 7; run++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${server.url}/codebases`);
      await page.waitForSelector('ul[aria-label="Codebases"] > li');
      if (run > 0) times.push((await page.evaluate("performance.now()")) as number); // the first warms the server
      await context.close();
    }

    // The run view fed 1,000 events a second for 5 s: text deltas over a few parts, tool rows changing state.
    const cb = await api("/v1/opencode/codebases", { name: "firehose", path: tmp });
    const page = await browser.newPage();
    await page.goto(`${server.url}/run/${cb.id}/ses_bench?from=${await server.ctx.events.head(cb.id)}`);
    await page.evaluate(`(() => {
      window.__longTasks = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); }).observe({ type: "longtask", buffered: false });
    })()`);
    const perTick = 10;
    let sent = 0;
    const started = performance.now();
    while (performance.now() - started < 5000) {
      const batch: NewEvent[] = [];
      for (let i = 0; i < perTick; i++, sent++) {
        const part = `p${Math.floor(sent / 200)}`;
        batch.push(
          sent % 50 === 0
            ? {
                type: "tool_use",
                data: {
                  session_id: "ses_bench",
                  tool: "bash",
                  call_id: `c${Math.floor(sent / 100)}`,
                  status: sent % 100 === 0 ? "running" : "completed",
                  title: `step ${sent}`,
                },
              }
            : { type: "output", data: { session_id: "ses_bench", message_id: "m", part_id: part, content: `token ${sent} ` } },
        );
      }
      await server.ctx.events.append(cb.id, batch);
      const due = started + (sent / 1000) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const rate = sent / ((performance.now() - started) / 1000);
    await server.ctx.events.append(cb.id, [{ type: "complete", data: { session_id: "ses_bench", status: "completed" } }]);
    await page.getByText("Run completed").waitFor({ timeout: 60_000 });
    const longTasks = (await page.evaluate("window.__longTasks")) as number[];
    const t = summary(times);
    return {
      "dashboard first load (index.html + JS + CSS, gzip)": `${(total / 1024).toFixed(1)} KB (budget 250 KB): ${files.join(", ")}`,
      "navigation → codebases list rendered (20 codebases, warm server)": `median ${t.median.toFixed(0)} ms, max ${t.max.toFixed(0)} ms over ${t.n} loads (budget 1,000 ms)`,
      "run view fed ~1,000 events/s for 5 s": `${sent} events at ${rate.toFixed(0)}/s; long tasks: ${longTasks.length}, longest ${longTasks.length ? Math.max(...longTasks).toFixed(0) : 0} ms, over 100 ms: ${longTasks.filter((d) => d > 100).length}`,
    };
  } finally {
    await browser.close();
    await server.close(1000);
    await rm(tmp, { recursive: true, force: true });
  }
}
