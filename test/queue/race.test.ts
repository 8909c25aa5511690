/**
 * Many runners racing for many tasks on the real Postgres (PGlite has one
 * connection, so it proves nothing about locking): each task runs exactly once.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createDb, type Database } from "../../src/db/client.js";
import { createServices, type Services } from "../../src/runtime.js";
import { createCodebase } from "../../src/services/codebases/codebases.js";
import type { ServiceContext } from "../../src/services/context.js";
import { claimTask } from "../../src/services/tasks/claims.js";
import { completeTask } from "../../src/services/tasks/completions.js";
import { uploadTaskEvents } from "../../src/services/tasks/reports.js";
import { cancelTask, createTask, getTask, listTasks } from "../../src/services/tasks/tasks.js";
import { registerWorker } from "../../src/services/tasks/workers.js";
import { createPostgresDatabase } from "../support/db.js";
import { testConfig } from "../support/harness.js";
import { allPages } from "../support/paging.js";
import { needs } from "../support/skip.js";

const url = process.env.DATABASE_URL?.trim();

describe(
  "claim races on real Postgres",
  {},
  needs(url ? false : "needs DATABASE_URL", () => {
    const pools: { database: Database; services: Services }[] = [];
    let drop: () => Promise<void>;
    let tmp: string;
    let codebaseId: string;

    before(async () => {
      tmp = await mkdtemp(path.join(os.tmpdir(), "ct-race-"));
      const created = await createPostgresDatabase(url!);
      drop = created.drop;
      // Four server processes' worth of connection pools.
      for (let i = 0; i < 4; i++) {
        const database = await createDb({ driver: "postgres", url: created.url, maxConnections: 8 });
        pools.push({ database, services: await createServices({ database, config: testConfig({ dataDir: tmp, localConcurrency: 0 }) }) });
      }
      const ctx = pools[0]!.services.ctx;
      codebaseId = (await createCodebase({ ctx, input: { name: "race", path: tmp } })).id;
      for (let w = 0; w < 16; w++) await registerWorker({ ctx, input: { name: `w${w}`, codebases: [{ name: "race", path: tmp }] } });
    });
    after(async () => {
      for (const p of pools) {
        await p.services.stop();
        await p.database.close();
      }
      await drop();
      await rm(tmp, { recursive: true, force: true });
    });

    const ctxOf = (i: number): ServiceContext => pools[i % pools.length]!.services.ctx;

    test("16 workers × 800 tasks: every task claimed once, completed once, attempts = 1", async () => {
      const total = 800;
      const ctx = ctxOf(0);
      for (let i = 0; i < total; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) => createTask({ ctx, codebaseId, input: { title: `t${i + j}`, prompt: "x", priority: (i + j) % 3 } })),
        );
      }
      const claimedBy = new Map<string, string>();
      const duplicates: string[] = [];
      await Promise.all(
        Array.from({ length: 16 }, async (_, w) => {
          const c = ctxOf(w);
          for (;;) {
            const claim = await claimTask({ ctx: c, claimant: { kind: "worker", name: `w${w}` } });
            if (!claim) return;
            if (claimedBy.has(claim.task.id)) duplicates.push(claim.task.id);
            claimedBy.set(claim.task.id, `w${w}`);
            await completeTask({ ctx: c, taskId: claim.task.id, input: { lease_token: claim.lease_token, status: "completed" } });
          }
        }),
      );
      assert.deepEqual(duplicates, []);
      assert.equal(claimedBy.size, total);
      const done = await allPages((cursor) => listTasks({ ctx, query: { status: "completed", limit: 500, cursor } }));
      assert.equal(done.length, total);
      assert.ok(done.every((t) => t.attempts === 1));
      assert.ok(new Set(claimedBy.values()).size > 1, "the work was shared");
      const completes = (await ctx.events.read(codebaseId, 0, 10_000)).filter((e) => e.type === "complete");
      assert.equal(completes.length, total, "one complete event per task");
    });

    test("50 simultaneous claims on one pending task, 50 rounds: exactly one winner each time", async () => {
      const ctx = ctxOf(0);
      for (let round = 0; round < 50; round++) {
        const task = await createTask({ ctx, codebaseId, input: { title: `barrier ${round}`, prompt: "x" } });
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => claimTask({ ctx: ctxOf(i), claimant: { kind: "worker", name: `w${i % 16}` } })));
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1, `round ${round}`);
        assert.equal(winners[0]!.task.id, task.id);
        await completeTask({ ctx, taskId: task.id, input: { lease_token: winners[0]!.lease_token, status: "completed" } });
      }
    });

    test("the same upload sent 8 times at once, 30 rounds: every answer says stored, each event is stored once", async () => {
      const ctx = ctxOf(0);
      const task = await createTask({ ctx, codebaseId, input: { title: "uploads", prompt: "x" } });
      const claim = (await claimTask({ ctx, claimant: { kind: "worker", name: "w0" } }))!;
      assert.equal(claim.task.id, task.id);
      for (let round = 1; round <= 30; round++) {
        const input = {
          lease_token: claim.lease_token,
          events: [1, 2].map((k) => ({
            seq: round * 2 + k,
            type: "output",
            data: { session_id: "ses_race", message_id: "m", part_id: "p", content: `${round}.${k}` },
          })),
        };
        // Retries of one upload in several processes: they wait on the task's lock, then each finds the others' events.
        const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => uploadTaskEvents({ ctx: ctxOf(i), taskId: task.id, input })));
        assert.ok(
          answers.every((a) => a.acked_through === round * 2 + 2),
          `round ${round}`,
        );
        assert.equal(
          answers.reduce((n, a) => n + a.stored, 0),
          2,
          `round ${round}: stored once between them`,
        );
      }
      const outputs = (await ctx.events.read(codebaseId, 0, 100_000)).filter((e) => e.type === "output" && e.data.session_id === "ses_race");
      assert.deepEqual(
        outputs.map((e) => (e.data as { content: string }).content),
        Array.from({ length: 30 }, (_, r) => [`${r + 1}.1`, `${r + 1}.2`]).flat(),
      );
      await completeTask({ ctx, taskId: task.id, input: { lease_token: claim.lease_token, status: "completed", session_id: "ses_race" } });
    });

    test("a failure report racing a cancel, 20 rounds: the task ends cancelled or failed, and its one complete event says which", async () => {
      const ctx = ctxOf(0);
      for (let round = 0; round < 20; round++) {
        const task = await createTask({ ctx, codebaseId, input: { title: `cancel race ${round}`, prompt: "x" } });
        const claim = (await claimTask({ ctx, claimant: { kind: "worker", name: "w1" } }))!;
        const [cancelled] = await Promise.allSettled([
          cancelTask({ ctx: ctxOf(1), id: task.id }),
          completeTask({ ctx: ctxOf(2), taskId: task.id, input: { lease_token: claim.lease_token, status: "failed", error: "boom" } }),
        ]);
        // A cancel that comes after the end is refused; one that comes first turns the failure into a cancel.
        if (cancelled.status === "rejected") assert.match(String(cancelled.reason), /already failed/);
        const ended = await getTask({ ctx, id: task.id });
        assert.ok(["cancelled", "failed"].includes(ended.status), `round ${round}: ${ended.status}`);
        const completes = (await ctx.events.read(codebaseId, 0, 100_000)).filter((e) => e.type === "complete" && e.data.task_id === task.id);
        assert.deepEqual(
          completes.map((e) => (e.data as { status: string }).status),
          [ended.status],
          `round ${round}`,
        );
      }
    });
  }),
);
