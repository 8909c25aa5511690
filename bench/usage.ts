/**
 * The usage report over 1,000,000 usage events on Postgres: the endpoint adds up
 * hourly rollups, so it should not care how many events there are. Side by side,
 * in the same run: the same totals scanned from the event log (what it would cost
 * without rollups), and what keeping the rollups adds to storing usage events.
 *
 * The events are inserted in bulk (spread evenly over 30 days, 10 codebases, 4
 * models and 2 agents, so every hourly bucket is used), then rolled up by the very
 * CTEs an append statement carries (`usageRollupCtes`, through `rollUpUsageInTx`), a chunk at a time.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "drizzle-orm";
import type { AgentEvent, NewEvent } from "../src/contracts/events.js";
import { startServer } from "../src/server.js";
import { toAgentEvent } from "../src/services/events/append.js";
import { rollUpUsageInTx } from "../src/services/usage/rollup.js";
import { postgresDriver } from "../test/support/db.js";
import { testConfig } from "../test/support/harness.js";
import { summary } from "./stats.js";

const codebaseCount = 10;
const chunk = 20_000;

export async function benchUsage(url: string, totalEvents = 1_000_000): Promise<Record<string, string>> {
  const db = await postgresDriver(url).create();
  const tmp = await mkdtemp(path.join(os.tmpdir(), "ct-bench-usage-"));
  const server = await startServer({ config: testConfig({ dataDir: tmp, localConcurrency: 0 }), database: db.database });
  const exec = async <T>(q: ReturnType<typeof sql>) => {
    const r = await server.ctx.database.db.execute(q);
    return (Array.isArray(r) ? r : (r as { rows: unknown[] }).rows) as T[];
  };
  try {
    const codebases: string[] = [];
    for (let i = 0; i < codebaseCount; i++) {
      const res = await fetch(`${server.url}/v1/opencode/codebases`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `usage-${i}`, path: tmp }),
      });
      codebases.push(((await res.json()) as { id: string }).id);
    }
    const perCodebase = Math.ceil(totalEvents / codebaseCount);
    const seedStart = performance.now();
    for (const [i, codebase] of codebases.entries()) {
      await exec(sql`
        insert into agent_events (stream_id, seq, type, session_id, task_id, data, created_at)
        select ${codebase}, g, 'usage', 'ses_' || ${i} || '_' || (g % 500), null,
          jsonb_build_object('session_id', 'ses_' || ${i} || '_' || (g % 500), 'input_tokens', 100 + g % 900, 'output_tokens', 50 + g % 400,
            'reasoning_tokens', g % 7, 'cache_read_tokens', g % 300, 'cache_write_tokens', g % 11,
            'cost', round((0.0001 + (g % 97) / 100000.0)::numeric, 6),
            'model', (array['anthropic/claude-sonnet-4', 'openai/gpt-5', 'fake/a', 'fake/b'])[1 + g % 4],
            'agent', (array['build', 'plan'])[1 + (g / 4) % 2]),
          now() - make_interval(secs => (g * 2591.0 / ${perCodebase}) * 1000)
        from generate_series(1, ${perCodebase}) as g`);
      await exec(sql`insert into event_streams (stream_id, head) values (${codebase}, ${perCodebase})
        on conflict (stream_id) do update set head = excluded.head`);
      for (let seq = 0; seq < perCodebase; seq += chunk) {
        const rows = await exec<{ seq: string; type: string; data: unknown; created_at: Date | string; task_id: string | null }>(
          sql`select seq, type, data, created_at, task_id from agent_events where stream_id = ${codebase} and seq > ${seq} and seq <= ${seq + chunk} order by seq`,
        );
        const events = rows.map((r) =>
          toAgentEvent({
            seq: Number(r.seq),
            type: r.type,
            data: typeof r.data === "string" ? JSON.parse(r.data) : r.data,
            createdAt: new Date(r.created_at),
            taskId: r.task_id,
          }),
        ) as Extract<AgentEvent, { type: "usage" }>[];
        await server.ctx.database.db.transaction((tx) => rollUpUsageInTx(tx, codebase, events));
      }
    }
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const [{ events, buckets }] = (await exec<{ events: string; buckets: string }>(
      sql`select (select count(*) from agent_events where type = 'usage')::text as events, (select count(*) from usage_hourly)::text as buckets`,
    )) as [{ events: string; buckets: string }];
    await exec(sql`analyze`);

    const time = async (n: number, call: () => Promise<unknown>) => {
      await call(); // warm
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await call();
        samples.push(performance.now() - t);
      }
      return summary(samples);
    };
    const report = (query: string) => async () => {
      const res = await fetch(`${server.url}/v1/opencode/usage${query}`);
      if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
      return res.json();
    };
    const out: Record<string, string> = {};
    const fmt = (s: ReturnType<typeof summary>) => `median ${s.median.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (${s.n} calls)`;
    const n = Number(events).toLocaleString("en-US");
    out[`seed: ${n} usage events, rolled up by rollUpUsageInTx into ${Number(buckets).toLocaleString("en-US")} hourly buckets`] = `${seedSeconds.toFixed(0)} s`;
    for (const q of ["", "?group_by=model", "?group_by=codebase,model,worker,agent,day"]) {
      out[`GET /v1/opencode/usage${q} over ${n} events (30 days), Postgres`] = fmt(await time(30, report(q)));
    }
    const scan = await time(3, () =>
      exec(sql`select data->>'model' as model, sum((data->>'input_tokens')::bigint), sum((data->>'cost')::numeric), count(*)
               from agent_events where type = 'usage' and created_at >= now() - interval '30 days' group by 1`),
    );
    out[`the same grouped by model, scanned from the event log instead (no rollups)`] = fmt(scan);

    // What the rollup adds to storing events: 2,000 usage events against 2,000 output events, 20 per append.
    const write = async (make: (i: number) => NewEvent) => {
      const codebase = codebases[0]!;
      const samples: number[] = [];
      for (let i = 0; i < 100; i++) {
        const batch = Array.from({ length: 20 }, (_, j) => make(i * 20 + j));
        const t = performance.now();
        await server.ctx.events.append(codebase, batch);
        samples.push(performance.now() - t);
      }
      return summary(samples);
    };
    const session = `ses_${randomUUID()}`;
    const outputs = await write((i) => ({ type: "output", data: { session_id: session, message_id: "m", part_id: `p${i}`, content: "x" } }));
    const usages = await write(() => ({
      type: "usage",
      data: {
        session_id: session,
        input_tokens: 10,
        output_tokens: 5,
        reasoning_tokens: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost: 0.0001,
        model: "fake/a",
      },
    }));
    out["append 20 output events (no rollup), Postgres"] = fmt(outputs);
    out["append 20 usage events (events and rollups, one statement), Postgres"] = `${fmt(usages)}: ${(usages.median / outputs.median).toFixed(2)}× the median`;
    return out;
  } finally {
    await server.close(1000);
    await db.drop();
    await rm(tmp, { recursive: true, force: true });
  }
}
