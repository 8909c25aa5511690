/**
 * The database goes away under load, for real: a PostgreSQL cluster of the test's
 * own (initdb + pg_ctl), stopped and started under a running server. The server
 * must stay up, answer 503 at once while the database is down, serve again when it
 * is back, and lose none of a running agent's output.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createDb } from "../../src/db/client.js";
import { freePort } from "../../src/opencode/process.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import type { ServerProcess } from "../support/cli.js";
import type { TestDriver } from "../support/db.js";
import { type OwnPostgres, postgresBinDir, startOwnPostgres } from "../support/own-postgres.js";
import { eventually, startServerProcess } from "../support/processes.js";
import { needs } from "../support/skip.js";
import { connectSse } from "../support/sse-client.js";

/** initdb refuses to run as root: as root the cluster runs as the `postgres` user. */
function hasPostgresUser(): boolean {
  try {
    execFileSync("id", ["-u", "postgres"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const canRunPostgres = postgresBinDir() !== null && (process.getuid?.() !== 0 || hasPostgresUser());

/** A test driver on the own cluster: the whole cluster is this test's, so nothing is dropped. */
function ownDriver(pg: OwnPostgres): TestDriver {
  return {
    name: "postgres",
    create: async () => ({ database: await createDb({ driver: "postgres", url: pg.url }), url: pg.url, drop: async () => {} }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(
  "PostgreSQL stopped and started under a running server",
  { timeout: 900_000 },
  needs(canRunPostgres ? false : "needs PostgreSQL server binaries", () => {
    describe("restarts under load", () => {
      let pg: OwnPostgres;
      let server: ServerProcess;
      let dataDir: string;
      before(async () => {
        pg = await startOwnPostgres();
        dataDir = await mkdtemp(path.join(os.tmpdir(), "ct-pgfault-"));
        server = await startServerProcess(await freePort(), {
          DATABASE_URL: pg.url,
          CODETETHER_DATA_DIR: dataDir,
          CODETETHER_API_KEY: "",
          CODETETHER_TASK_LEASE_SECONDS: "3600",
          CODETETHER_LOCAL_CONCURRENCY: "0",
          OPENCODE_AUTO_START: "false",
          OPENCODE_PORT: "9",
        });
      });
      after(async () => {
        server?.child.kill("SIGKILL");
        await pg?.remove();
        await rm(dataDir, { recursive: true, force: true });
      });

      const api = async (method: string, route: string, body?: unknown) => {
        const res = await fetch(`${server.url}${route}`, {
          method,
          headers: body === undefined ? {} : { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
      };

      test("10 fast and immediate stops with 4 clients uploading events: the server stays up, answers 503 + Retry-After meanwhile, and serves again", {
        timeout: 600_000,
      }, async () => {
        const cb = await api("POST", "/v1/opencode/codebases", { name: "load", path: dataDir });
        assert.equal(cb.status, 201, JSON.stringify(cb.body));
        // Four workers, each holding a leased task and uploading events to it in transactions, as fast as they can.
        let stop = false;
        let uploaded = 0;
        const client = async (n: number) => {
          const name = `w${n}`;
          let lease: { task: string; token: string } | null = null;
          let seq = 0;
          while (!stop) {
            try {
              if (!lease) {
                await api("POST", "/v1/opencode/worker/register", { name, codebases: [{ name: "load", path: dataDir }] });
                await api("POST", `/v1/opencode/codebases/${cb.body.id}/tasks`, { title: `t${n}`, prompt: "p" });
                const claim = await api("POST", "/v1/opencode/worker/claim", { name });
                if (claim.status === 200) lease = { task: claim.body.task.id, token: claim.body.lease_token };
                else await sleep(100);
                continue;
              }
              const events = Array.from({ length: 5 }, () => ({
                seq: ++seq,
                type: "output",
                data: { session_id: null, message_id: "m", part_id: "p", content: "x".repeat(100) },
              }));
              const res = await api("POST", `/v1/opencode/worker/tasks/${lease.task}/events`, { lease_token: lease.token, events });
              if (res.status === 200) uploaded += 5;
              else if (res.status === 503)
                seq -= 5; // not stored: send the same numbers again
              else if (res.status === 409) lease = null;
            } catch {
              await sleep(50); // the server itself is unreachable: the assertions below will say so
            }
          }
        };
        const clients = [0, 1, 2, 3].map(client);
        const recoveries: number[] = [];
        const outageAnswers: number[] = [];
        try {
          for (let cycle = 0; cycle < 10; cycle++) {
            await eventually(async () => (uploaded > 0 ? true : undefined), 30_000, "uploads flowing");
            await sleep(300);
            pg.stop(cycle % 2 === 0 ? "fast" : "immediate");
            assert.equal(server.child.exitCode, null, `the server exited at stop ${cycle + 1}:\n${server.output().slice(-3000)}`);
            // While it is down, requests are answered at once with a 503 and a Retry-After (the first may trip the circuit).
            await api("GET", "/v1/opencode/codebases");
            const asked = performance.now();
            const down = await api("GET", "/v1/opencode/codebases");
            outageAnswers.push(performance.now() - asked);
            assert.equal(down.status, 503, JSON.stringify(down.body));
            assert.equal(down.headers.get("retry-after"), "1");
            await sleep(700);
            pg.start();
            const back = performance.now();
            await eventually(async () => ((await api("GET", "/v1/opencode/codebases")).status === 200 ? true : undefined), 60_000, "serving again");
            recoveries.push(performance.now() - back);
            assert.equal(server.child.exitCode, null, `the server exited after start ${cycle + 1}:\n${server.output().slice(-3000)}`);
            uploaded = 0;
          }
        } finally {
          stop = true;
          await Promise.allSettled(clients);
        }
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        console.log(
          `postgres restarts: serving again after ${recoveries.map((ms) => Math.round(ms)).join(", ")} ms (median ${Math.round(median(recoveries))}); ` +
            `a request during the outage answered in ${outageAnswers.map((ms) => Math.round(ms)).join(", ")} ms`,
        );
        assert.doesNotMatch(server.output(), /TypeError|uncaught/i);
      });
    });

    describe("an agent's output through an outage", () => {
      let pg: OwnPostgres;
      let s: AgentServer;
      before(async () => {
        pg = await startOwnPostgres();
      });
      after(async () => {
        await s?.close().catch(() => {});
        await pg?.remove();
      });

      test("Postgres stopped for 3 s mid-run: every output chunk is stored, in order, and the run completes", { timeout: 300_000 }, async () => {
        s = await startAgentServer(ownDriver(pg));
        const dir = await s.sandbox.createCodebase("outage");
        const cb = await s.api("POST", "/v1/opencode/codebases", { name: "outage", path: dir });
        const chunks = Array.from({ length: 150 }, (_, i) => `chunk ${String(i).padStart(3, "0")}; `);
        s.llm.setScript([{ text: chunks.join(""), chunks: 150, chunkDelayMs: 40 }]);
        const trigger = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "stream a lot", model: "fake/fake-model" });
        assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
        const sse = await connectSse(`${s.server.url}/v1/opencode/codebases/${cb.body.id}/events?last_event_id=${trigger.body.last_event_id}`);
        // Stop the database once output is flowing.
        for (let n = 1; ; n++) if ((await sse.waitFor(n)).at(-1)!.event === "output") break;
        pg.stop("fast");
        await sleep(3000);
        pg.start();
        let events = await sse.waitFor(1);
        for (let n = events.length; events.at(-1)!.event !== "complete"; n++) events = await sse.waitFor(n + 1);
        sse.close();
        const complete = JSON.parse(events.at(-1)!.data);
        assert.equal(complete.status, "completed", JSON.stringify(complete));
        const text = events
          .filter((e) => e.event === "output")
          .map((e) => JSON.parse(e.data).content)
          .join("");
        assert.equal(text, chunks.join(""), "every chunk, once, in order");
        const ids = events.map((e) => Number(e.id));
        assert.deepEqual(
          ids,
          ids.map((_, i) => ids[0]! + i),
          "contiguous ids",
        );
      });

      test("an outage longer than the run's event buffer lasts ends the run failed with EventsLost, never completed", { timeout: 300_000 }, async () => {
        await s.close();
        s = await startAgentServer(ownDriver(pg), { config: { runBufferBytes: 4096 } });
        const dir = await s.sandbox.createCodebase("overflow");
        const cb = await s.api("POST", "/v1/opencode/codebases", { name: "overflow", path: dir });
        s.llm.setScript([{ text: "y".repeat(150 * 40), chunks: 150, chunkDelayMs: 20 }]);
        const trigger = await s.api("POST", `/v1/opencode/codebases/${cb.body.id}/trigger`, { prompt: "stream a lot", model: "fake/fake-model" });
        assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
        const sse = await connectSse(`${s.server.url}/v1/opencode/codebases/${cb.body.id}/events?last_event_id=${trigger.body.last_event_id}`);
        for (let n = 1; ; n++) if ((await sse.waitFor(n)).at(-1)!.event === "output") break;
        pg.stop("fast");
        await sleep(5000); // the rest of the output (about 6 KB) arrives meanwhile and overflows 4 KB
        pg.start();
        let events = await sse.waitFor(1);
        for (let n = events.length; events.at(-1)!.event !== "complete"; n++) events = await sse.waitFor(n + 1);
        sse.close();
        const complete = JSON.parse(events.at(-1)!.data);
        assert.equal(complete.status, "failed", JSON.stringify(complete));
        assert.match(complete.error, /event\(s\) of this run were lost/);
        assert.ok(events.some((e) => e.event === "error" && JSON.parse(e.data).name === "EventsLost"));
        const session = await s.api("GET", `/v1/opencode/codebases/${cb.body.id}/sessions/${trigger.body.session_id}`);
        assert.equal(session.body.status, "failed");
      });
    });
  }),
);
