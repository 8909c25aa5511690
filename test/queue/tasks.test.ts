import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { and, eq, sql } from "drizzle-orm";
import { rowsOf } from "../../src/db/client.js";
import { tasks, urgentFirst, waitingForClaim } from "../../src/db/schema.js";
import { sweepExpiredLeases } from "../../src/services/tasks/leases.js";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

const leaseSeconds = 600;

for (const driver of testDrivers()) {
  describe(`task queue and worker protocol (${driver.name})`, () => {
    let h: Harness;
    let local: string;
    let remote: string;
    before(async () => {
      // No local runner: these tests drive every claim themselves. Leases last longer than the file takes (and the
      // server's own sweep waits that long before its first): a test makes one lapse by moving its expiry, so a task
      // an earlier test left running never becomes claimable again on a slow machine.
      h = await createHarness(driver, { localConcurrency: 0, leaseSeconds });
      local = (await h.request("POST", "/v1/opencode/codebases", { name: "local", path: h.tmp })).json().then((b) => b.id) as never;
      local = await (local as unknown as Promise<string>);
      remote = (await (await h.request("POST", "/v1/opencode/codebases", { name: "app1", path: "/projects/app1", worker_id: "worker-1" })).json()).id;
    });
    after(() => h.close());

    const create = async (codebase: string, body: Record<string, unknown>) => {
      const res = await h.request("POST", `/v1/opencode/codebases/${codebase}/tasks`, { prompt: "do it", ...body });
      assert.equal(res.status, 201, JSON.stringify(await res.clone().json()));
      return res.json();
    };
    /** A codebase of the server's, in a directory of its own; its id. */
    const codebaseOfItsOwn = async (name: string): Promise<string> => {
      const dir = path.join(h.tmp, name);
      await mkdir(dir, { recursive: true });
      const res = await h.request("POST", "/v1/opencode/codebases", { name, path: dir });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()).id;
    };
    const post = (path: string, body: unknown) => h.request("POST", `/v1/opencode/worker${path}`, body);
    const claim = async (name: string) => {
      const res = await post("/claim", { name });
      return res.status === 204 ? null : res.json();
    };

    test("creates a task as the product page shows and lists it as pending", async () => {
      const task = await create(local, { title: "Add unit tests", prompt: "Add unit tests for the authentication module", agent_type: "build", priority: 1 });
      assert.equal(task.status, "pending");
      assert.equal(task.priority, 1);
      assert.equal(task.agent_type, "build");
      assert.equal(task.attempts, 0);
      const pending = await (await h.request("GET", "/v1/opencode/tasks?status=pending")).json();
      assert.deepEqual(
        pending.map((t: { id: string }) => t.id),
        [task.id],
      );
      assert.deepEqual(await (await h.request("GET", `/v1/opencode/tasks/${task.id}`)).json(), task);
      assert.deepEqual(await h.trpc.tasks.get({ id: task.id }), task);
      const cancelled = await (await h.request("POST", `/v1/opencode/tasks/${task.id}/cancel`)).json();
      assert.equal(cancelled.status, "cancelled");
      assert.equal((await h.request("POST", `/v1/opencode/tasks/${task.id}/cancel`)).status, 409);
    });

    test("a batch of tasks is queued at once, in the order given, each audited; one bad task queues none", async () => {
      const res = await h.request("POST", `/v1/opencode/codebases/${remote}/tasks/batch`, {
        tasks: [
          { title: "batch one", prompt: "one", priority: 3 },
          { title: "batch two", prompt: "two" },
          { title: "batch three", prompt: "three", agent_type: "plan" },
        ],
      });
      assert.equal(res.status, 201, JSON.stringify(await res.clone().json()));
      const { tasks: made } = await res.json();
      assert.deepEqual(
        made.map((t: { title: string; status: string; codebase_id: string }) => [t.title, t.status, t.codebase_id]),
        [
          ["batch one", "pending", remote],
          ["batch two", "pending", remote],
          ["batch three", "pending", remote],
        ],
      );
      assert.equal(made[2].agent_type, "plan");
      const audit = await (await h.request("GET", "/v1/opencode/audit?action=task.create")).json();
      for (const t of made)
        assert.ok(
          audit.some((a: { target_id: string }) => a.target_id === t.id),
          `${t.title} is audited`,
        );
      const bad = await h.request("POST", `/v1/opencode/codebases/${remote}/tasks/batch`, {
        tasks: [
          { title: "fine", prompt: "ok" },
          { title: "", prompt: "x" },
        ],
      });
      assert.equal(bad.status, 422);
      assert.match((await bad.json()).detail, /tasks\.1\.title/);
      const fine = await (await h.request("GET", "/v1/opencode/tasks?q=fine")).json();
      assert.equal(fine.length, 0, "none of a refused batch is queued");
      assert.equal((await h.request("POST", `/v1/opencode/codebases/${remote}/tasks/batch`, { tasks: [] })).status, 422);
      for (const t of made) await h.request("POST", `/v1/opencode/tasks/${t.id}/cancel`);
    });

    test("bad task input and unknown ids get clear 4xx answers", async () => {
      const bad = async (body: unknown, detail: RegExp) => {
        const res = await h.request("POST", `/v1/opencode/codebases/${local}/tasks`, body);
        assert.equal(res.status, 422);
        assert.match((await res.json()).detail, detail);
      };
      await bad({ prompt: "x" }, /title/);
      await bad({ title: "t", prompt: " " }, /prompt must not be empty/);
      await bad({ title: "t", prompt: "x", agent_type: "root" }, /agent_type/);
      await bad({ title: "t", prompt: "x", priority: 1.5 }, /priority/);
      await bad({ title: "t", prompt: "x", model: "nope" }, /provider\/model/);
      assert.equal((await h.request("POST", "/v1/opencode/codebases/nope/tasks", { title: "t", prompt: "x" })).status, 404);
      assert.deepEqual(await (await h.request("GET", "/v1/opencode/tasks/nope")).json(), { detail: "Task not found" });
      assert.equal((await h.request("GET", "/v1/opencode/tasks?status=weird")).status, 422);
    });

    test("a claim reads each codebase's queue in order from its index, as a prepared statement too: it never sorts a queue", async () => {
      const { db } = h.ctx.database;
      const plan = await db.transaction(async (tx) => {
        // Sorting made as dear as it goes, and the plan a prepared statement settles on (its parameters unknown):
        // the plan sorts only if the index cannot give this order for these conditions. A claim reads each of its
        // codebases' queues so (see claims.ts).
        await tx.execute(sql`set local enable_sort = off`);
        await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
        const query = tx
          .select({ id: tasks.id })
          .from(tasks)
          .where(and(eq(tasks.codebaseId, local), waitingForClaim))
          .orderBy(...urgentFirst)
          .limit(1)
          .toSQL();
        await tx.execute(sql.raw(`prepare queue_head as ${query.sql}`));
        const values = query.params.map((p) => (typeof p === "number" ? String(p) : `'${String(p)}'`)).join(", ");
        const explained = await tx.execute(sql.raw(`explain execute queue_head(${values})`));
        await tx.execute(sql`deallocate queue_head`);
        return rowsOf<{ "QUERY PLAN": string }>(explained)
          .map((r) => r["QUERY PLAN"])
          .join("\n");
      });
      assert.match(plan, /tasks_codebase_runnable_idx/, plan);
      assert.doesNotMatch(plan, /Sort/, plan);
    });

    test("a worker with several codebases takes the most urgent head of all their queues, claim by claim", async () => {
      const [north, south] = [await codebaseOfItsOwn("north"), await codebaseOfItsOwn("south")];
      await post("/register", {
        name: "worker-ns",
        codebases: [
          { name: "north", path: "/n" },
          { name: "south", path: "/s" },
        ],
      });
      const n1 = await create(north, { title: "n1", priority: 1 });
      const s5 = await create(south, { title: "s5", priority: 5 });
      const n5 = await create(north, { title: "n5", priority: 5 });
      const s0 = await create(south, { title: "s0", priority: 0 });
      const order = [];
      for (let i = 0; i < 4; i++) {
        const c = await claim("worker-ns");
        order.push(c.task.id);
        await post(`/tasks/${c.task.id}/complete`, { lease_token: c.lease_token, status: "completed" });
      }
      assert.deepEqual(order, [s5.id, n5.id, n1.id, s0.id], "by priority, then age, across both codebases");
      assert.equal(await claim("worker-ns"), null);

      // A batch takes from the codebase with the most urgent head first, then the next: all it takes, in one call.
      const t = [
        await create(north, { title: "a", priority: 1 }),
        await create(south, { title: "b", priority: 3 }),
        await create(north, { title: "c", priority: 2 }),
      ];
      const batch = await (await post("/claims", { name: "worker-ns", max_tasks: 2 })).json();
      assert.deepEqual(new Set(batch.claims.map((c: { task: { id: string } }) => c.task.id)), new Set([t[1].id, t[2].id]));
      const last = await claim("worker-ns");
      assert.equal(last.task.id, t[0].id);
      for (const c of [...batch.claims, last]) await post(`/tasks/${c.task.id}/complete`, { lease_token: c.lease_token, status: "completed" });
    });

    test("claims made at once on codebases of one task each each take a task: a claim locks only what it takes", async () => {
      const names = Array.from({ length: 6 }, (_, i) => `solo-${i}`);
      for (const name of names) await create(await codebaseOfItsOwn(name), { title: name });
      const workers = names.map((_, i) => `worker-solo-${i}`);
      for (const name of workers) await post("/register", { name, codebases: names.map((n) => ({ name: n, path: `/${n}` })) });
      const claims = await Promise.all(workers.map((name) => claim(name)));
      assert.deepEqual(
        claims.map((c) => (c ? "took one" : "took none")),
        workers.map(() => "took one"),
      );
      assert.equal(new Set(claims.map((c) => c.task.id)).size, workers.length, "each a task of its own");
      for (const c of claims) await post(`/tasks/${c.task.id}/complete`, { lease_token: c.lease_token, status: "completed" });
    });

    // PGlite has no JIT; a Postgres with it compiles a statement when its estimated cost is high, which a claim's is
    // with a deep queue: a second of compiling at each claim.
    if (driver.name === "postgres") {
      test("the server's Postgres connections never JIT-compile a statement", async () => {
        const [row] = rowsOf<{ jit: string }>(await h.ctx.database.db.execute(sql`select current_setting('jit') as jit`));
        assert.equal(row?.jit, "off");
      });
    }

    test("claims go by priority (larger first), then age, then id; routing keeps worker tasks on their worker", async () => {
      await post("/register", { name: "worker-1", codebases: [{ name: "app1", path: "/projects/app1" }] });
      await post("/register", { name: "worker-2", codebases: [{ name: "local", path: "/elsewhere/local" }] });
      const low = await create(local, { title: "low", priority: 0 });
      const high = await create(local, { title: "high", priority: 5 });
      const mid1 = await create(local, { title: "mid1", priority: 2 });
      const mid2 = await create(local, { title: "mid2", priority: 2 });
      const forWorker1 = await create(remote, { title: "remote", priority: 100 });

      // worker-2 has "local" by name but not app1: it never gets worker-1's task.
      const order = [];
      for (let i = 0; i < 4; i++) order.push((await claim("worker-2")).task.id);
      assert.deepEqual(order, [high.id, mid1.id, mid2.id, low.id]);
      assert.equal(await claim("worker-2"), null);

      const c = await claim("worker-1");
      assert.equal(c.task.id, forWorker1.id);
      assert.equal(c.attempt, 1);
      assert.equal(c.codebase.name, "app1");
      assert.equal(c.task.worker_id, "worker-1");
      assert.equal((await post("/claim", { name: "never-registered" })).status, 404);
    });

    test("a worker's claim reads its row: nothing while it drains, and a stale heartbeat is renewed by the claim", async () => {
      await post("/register", { name: "worker-3", codebases: [{ name: "local", path: "/elsewhere/local" }] });
      const agoSeconds = async () =>
        rowsOf<{ ago: number }>(
          await h.ctx.database.db.execute(sql`select extract(epoch from now() - last_heartbeat_at)::float as ago from workers where name = 'worker-3'`),
        )[0]!.ago;
      assert.equal((await post("/heartbeat", { name: "worker-3", draining: true })).status, 200);
      const task = await create(local, { title: "for worker-3", priority: 50 });
      assert.equal(await claim("worker-3"), null, "a draining worker takes nothing");
      assert.equal((await post("/heartbeat", { name: "worker-3", draining: false })).status, 200);

      await h.ctx.database.db.execute(sql`update workers set last_heartbeat_at = now() - interval '1 minute' where name = 'worker-3'`);
      assert.ok((await agoSeconds()) >= 60);
      const c = await claim("worker-3");
      assert.equal(c.task.id, task.id);
      assert.ok((await agoSeconds()) < 60, "the claim recorded a sign of life");
      await post(`/tasks/${task.id}/complete`, { lease_token: c.lease_token, status: "completed" });
    });

    test("reports are fenced by the lease and idempotent", async () => {
      const task = await create(remote, { title: "fenced" });
      const c = await claim("worker-1");
      assert.equal(c.task.id, task.id);
      const base = `/tasks/${task.id}`;
      const batch = {
        lease_token: c.lease_token,
        events: [
          { seq: 1, type: "status", data: { session_id: "ses_w", status: "running" } },
          { seq: 2, type: "output", data: { session_id: "ses_w", message_id: "m", part_id: "p", content: "hi" } },
        ],
      };
      assert.deepEqual(await (await post(`${base}/events`, batch)).json(), { acked_through: 2, stored: 2 });
      assert.deepEqual(await (await post(`${base}/events`, batch)).json(), { acked_through: 2, stored: 0 }, "a resent batch stores nothing");
      const overlapping = {
        lease_token: c.lease_token,
        events: [batch.events[1]!, { ...batch.events[1]!, seq: 3, data: { ...batch.events[1]!.data, content: " there" } }],
      };
      assert.deepEqual(await (await post(`${base}/events`, overlapping)).json(), { acked_through: 3, stored: 1 }, "only the new event of an overlapping batch");
      const bogus = await post(`${base}/events`, { lease_token: c.lease_token, events: [{ seq: 3, type: "complete", data: {} }] });
      assert.equal(bogus.status, 422);
      assert.match((await bogus.json()).detail, /^events\.0\.type: /);
      const missing = await post(`${base}/events`, {
        lease_token: c.lease_token,
        events: [{ seq: 3, type: "output", data: { session_id: "s", message_id: "m", part_id: "p" } }],
      });
      assert.equal(missing.status, 422);
      assert.match((await missing.json()).detail, /events\.0\.data\.content: /, "the field is named");
      assert.deepEqual(await (await post(`${base}/heartbeat`, { lease_token: c.lease_token })).json(), {
        cancel_requested: false,
        lease_seconds: leaseSeconds,
      });
      assert.equal((await post(`${base}/heartbeat`, { lease_token: "stale" })).status, 409);

      const done = { lease_token: c.lease_token, status: "completed", result: "ok", session_id: "ses_w" };
      const replies = await Promise.all(Array.from({ length: 5 }, () => post(`${base}/complete`, done)));
      assert.deepEqual(
        replies.map((r) => r.status),
        [200, 200, 200, 200, 200],
      );
      const bodies = await Promise.all(replies.map((r) => r.json()));
      for (const b of bodies) assert.deepEqual(b, bodies[0]);
      assert.equal(bodies[0].status, "completed");
      assert.equal(bodies[0].session_id, "ses_w");
      const conflicting = await post(`${base}/complete`, { ...done, status: "failed" });
      assert.equal(conflicting.status, 409);
      assert.equal((await post(`${base}/complete`, { ...done, lease_token: "other" })).status, 409);
      assert.equal((await post(`${base}/events`, batch)).status, 409, "no events after the end");

      const events = await h.ctx.events.read(remote, 0, 1000);
      const mine = events.filter((e) => (e.data as { task_id?: string }).task_id === task.id || e.data.session_id === "ses_w");
      assert.deepEqual(mine.filter((e) => e.type === "complete").length, 1, "one complete event");
      assert.deepEqual(
        mine.filter((e) => e.type === "output").map((e) => (e.data as { content: string }).content),
        ["hi", " there"],
        "each output once, the overlapping batch's new one after it",
      );
      const session = await (await h.request("GET", `/v1/opencode/codebases/${remote}/sessions/ses_w`)).json();
      assert.equal(session.status, "completed");
    });

    test("a batch of completions ends each task as its own report would, across codebases: its session and its event", async () => {
      const [east, west] = [await codebaseOfItsOwn("east"), await codebaseOfItsOwn("west")];
      await post("/register", {
        name: "worker-ew",
        codebases: [
          { name: "east", path: "/e" },
          { name: "west", path: "/w" },
        ],
      });
      const [e1, e2, e3] = [await create(east, { title: "e1" }), await create(east, { title: "e2" }), await create(east, { title: "e3" })];
      const w1 = await create(west, { title: "w1" });
      const { claims } = await (await post("/claims", { name: "worker-ew", max_tasks: 4 })).json();
      const lease = (id: string) => claims.find((c: { task: { id: string } }) => c.task.id === id).lease_token as string;
      const running = (id: string, session: string) =>
        post(`/tasks/${id}/events`, { lease_token: lease(id), events: [{ seq: 1, type: "status", data: { session_id: session, status: "running" } }] });
      assert.equal((await running(e1.id, "ses_e1")).status, 200);
      assert.equal((await running(w1.id, "ses_w1")).status, 200);
      // Not as a report expects its task: e3 was asked to cancel, and w1's report does not name the session it runs.
      assert.equal((await h.request("POST", `/v1/opencode/tasks/${e3.id}/cancel`)).status, 200);
      const batch = {
        completions: [
          { task_id: e1.id, lease_token: lease(e1.id), status: "completed", session_id: "ses_e1" },
          { task_id: e2.id, lease_token: lease(e2.id), status: "failed", error: "broke" },
          { task_id: e3.id, lease_token: lease(e3.id), status: "failed", error: "stopped" },
          { task_id: w1.id, lease_token: lease(w1.id), status: "completed", result: "ok" },
          { task_id: e2.id, lease_token: lease(e2.id), status: "completed" },
        ],
      };
      const answer = async () =>
        (await (await post("/completions", batch)).json()).results as { ok: boolean; error?: string; task?: Record<string, unknown> }[];
      const results = await answer();
      assert.deepEqual(
        results.map((r) => [r.ok, r.error ?? r.task?.status]),
        [
          [true, "completed"],
          [true, "failed"],
          [true, "cancelled"],
          [true, "completed"],
          [false, "conflict"],
        ],
        "the second report of e2 is answered as a repeat of the first, which decided",
      );
      assert.equal(results[3]!.task?.session_id, "ses_w1");
      for (const [session, codebase] of [
        ["ses_e1", east],
        ["ses_w1", west],
      ])
        assert.equal((await (await h.request("GET", `/v1/opencode/codebases/${codebase}/sessions/${session}`)).json()).status, "completed");
      await answer();
      const ends = async (codebase: string) =>
        (await h.ctx.events.read(codebase, 0, 1000)).filter((e) => e.type === "complete").map((e) => e.data as Record<string, unknown>);
      assert.deepEqual(
        (await ends(east)).map((d) => [d.task_id, d.status, d.session_id, d.error]),
        [
          [e1.id, "completed", "ses_e1", undefined],
          [e2.id, "failed", null, "broke"],
          [e3.id, "cancelled", null, "stopped"],
        ],
        "one complete event each, in its codebase's stream, repeated reports storing none",
      );
      assert.deepEqual(
        (await ends(west)).map((d) => [d.task_id, d.status, d.session_id]),
        [[w1.id, "completed", "ses_w1"]],
      );
    });

    test("a lapsed lease sends the task back with backoff, then fails it with the reason", async () => {
      const task = await create(remote, { title: "flaky", max_attempts: 2 });
      const first = await claim("worker-1");
      assert.equal(first.task.id, task.id);
      // Let the lease lapse (time travel instead of sleeping).
      await h.ctx.database.db.update(tasks).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(sql`id = ${task.id}`);
      assert.equal(await sweepExpiredLeases({ ctx: h.ctx }), 1);
      let row = await (await h.request("GET", `/v1/opencode/tasks/${task.id}`)).json();
      assert.equal(row.status, "pending");
      assert.equal(row.attempt_errors[0].reason, "lease_expired");
      assert.equal(await claim("worker-1"), null, "backoff: not runnable at once");
      await h.ctx.database.db.update(tasks).set({ runAfter: sql`now()` }).where(sql`id = ${task.id}`);
      const second = await claim("worker-1");
      assert.equal(second.attempt, 2);
      assert.equal((await post(`/tasks/${task.id}/heartbeat`, { lease_token: first.lease_token })).status, 409, "the old lease is dead");
      await h.ctx.database.db.update(tasks).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(sql`id = ${task.id}`);
      await sweepExpiredLeases({ ctx: h.ctx });
      row = await (await h.request("GET", `/v1/opencode/tasks/${task.id}`)).json();
      assert.equal(row.status, "failed");
      assert.match(row.error, /Gave up after 2 attempts: lease expired on worker-1/);
      assert.equal(row.attempt_errors.length, 2);
      assert.equal(await claim("worker-1"), null, "never a third attempt");
    });

    test("release hands a task back at once without counting the attempt; cancel of a running task is flagged", async () => {
      const task = await create(remote, { title: "release me" });
      const c = await claim("worker-1");
      const released = await (await post(`/tasks/${task.id}/release`, { lease_token: c.lease_token })).json();
      assert.equal(released.status, "pending");
      assert.equal(released.attempts, 0);
      const again = await claim("worker-1");
      assert.equal(again.task.id, task.id);
      assert.equal(again.attempt, 1);
      const cancelled = await (await h.request("POST", `/v1/opencode/tasks/${task.id}/cancel`)).json();
      assert.equal(cancelled.status, "running");
      assert.equal(cancelled.cancel_requested, true);
      assert.deepEqual(await (await post(`/tasks/${task.id}/heartbeat`, { lease_token: again.lease_token })).json(), {
        cancel_requested: true,
        lease_seconds: leaseSeconds,
      });
      const end = await (await post(`/tasks/${task.id}/complete`, { lease_token: again.lease_token, status: "failed", error: "aborted" })).json();
      assert.equal(end.status, "cancelled");
    });

    test("a task for an offline worker waits for it", async () => {
      const cb = (await (await h.request("POST", "/v1/opencode/codebases", { name: "late", path: "/p/late", worker_id: "late-worker" })).json()).id;
      const task = await create(cb, { title: "wait for me" });
      for (let i = 0; i < 20; i++) assert.equal(await claim("worker-2"), null);
      assert.equal((await h.request("GET", `/v1/opencode/tasks/${task.id}`)).status, 200);
      await post("/register", { name: "late-worker", codebases: [] });
      assert.equal((await claim("late-worker")).task.id, task.id);
      const workers = await (await h.request("GET", "/v1/opencode/workers")).json();
      const late = workers.find((w: { name: string }) => w.name === "late-worker");
      assert.equal(late.status, "online");
      assert.equal(late.running_tasks, 1);
      assert.deepEqual(await h.trpc.workers.list(), workers);
    });

    test("a worker registering a codebase the server does not know makes it that worker's", async () => {
      await post("/register", { name: "worker-3", codebases: [{ name: "brand-new", path: "/srv/brand-new" }] });
      const list = await (await h.request("GET", "/v1/opencode/codebases")).json();
      const cb = list.find((c: { name: string }) => c.name === "brand-new");
      assert.equal(cb.worker_id, "worker-3");
      assert.equal(cb.path, "/srv/brand-new");
    });
  });
}
