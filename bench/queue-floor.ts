/**
 * The floors for the queue benchmark: an HTTP server answering the calls the benchmark makes (register, create
 * task, claim, claims, complete, completions) with no validation. In memory, what is left is what the clients and
 * HTTP cost. Durable (`databaseUrl`), each create, claim and completion is one autocommit statement on Postgres
 * (a `skip locked` claim with a lease token, a completion fenced by it) before it is answered: the least a durable
 * queue must do, with none of ours (events, attempts, the worker's row, routing, budgets).
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import postgres from "postgres";
import { createPostgresDatabase } from "../test/support/db.js";

interface Store {
  create(tasks: { id: string; priority: number }[]): Promise<void>;
  claim(max: number): Promise<{ id: string; priority: number; token: string }[]>;
  complete(done: { id: string; token: string }[]): Promise<Set<string>>;
  close(): Promise<void>;
}

function memoryStore(): Store {
  const pending: { id: string; priority: number }[] = [];
  const leases = new Map<string, string>();
  return {
    async create(tasks) {
      pending.push(...tasks);
    },
    async claim(max) {
      return pending.splice(0, max).map((t) => {
        const token = randomUUID();
        leases.set(t.id, token);
        return { ...t, token };
      });
    },
    async complete(done) {
      return new Set(done.filter((d) => leases.get(d.id) === d.token).map((d) => d.id));
    },
    async close() {},
  };
}

async function postgresStore(baseUrl: string): Promise<Store> {
  const db = await createPostgresDatabase(baseUrl);
  const sql = postgres(db.url, { max: 10, onnotice: () => {} });
  await sql`create table floor_tasks (id text primary key, priority int not null, status text not null default 'pending', lease text, created bigserial)`;
  await sql`create index floor_tasks_runnable on floor_tasks (priority desc, created) where status = 'pending'`;
  return {
    async create(tasks) {
      await sql`insert into floor_tasks (id, priority) select * from unnest(${tasks.map((t) => t.id)}::text[], ${tasks.map((t) => t.priority)}::int[])`;
    },
    async claim(max) {
      const rows = await sql<{ id: string; priority: number; lease: string }[]>`
        update floor_tasks set status = 'running', lease = gen_random_uuid()::text
        where id = any(array(select id from floor_tasks where status = 'pending' order by priority desc, created limit ${max} for update skip locked))
        returning id, priority, lease`;
      return rows.map((r) => ({ id: r.id, priority: r.priority, token: r.lease }));
    },
    async complete(done) {
      const rows = await sql<{ id: string }[]>`
        update floor_tasks t set status = 'completed'
        from unnest(${done.map((d) => d.id)}::text[], ${done.map((d) => d.token)}::text[]) as u(id, lease)
        where t.id = u.id and t.lease = u.lease and t.status = 'running'
        returning t.id`;
      return new Set(rows.map((r) => r.id));
    },
    async close() {
      await sql.end();
      await db.drop();
    },
  };
}

export async function startQueueFloor(databaseUrl?: string): Promise<{ url: string; close(): Promise<void> }> {
  const store = databaseUrl ? await postgresStore(databaseUrl) : memoryStore();
  const claimBody = (c: { id: string; priority: number; token: string }) => ({
    task: { id: c.id, priority: c.priority },
    lease_token: c.token,
    attempt: 1,
    lease_seconds: 15,
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
      const url = req.url ?? "";
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      void (async () => {
        if (url === "/v1/opencode/codebases") return json(201, { id: "floor" });
        if (url === "/v1/opencode/worker/register") return json(200, { name: body.name });
        if (url.endsWith("/tasks/batch")) {
          const tasks = (body.tasks as { priority?: number }[]).map((t) => ({ id: randomUUID(), priority: t.priority ?? 0 }));
          await store.create(tasks);
          return json(201, { tasks: tasks.map((t) => ({ ...t, status: "pending" })) });
        }
        if (url.endsWith("/tasks")) {
          const task = { id: randomUUID(), priority: body.priority ?? 0 };
          await store.create([task]);
          return json(201, { ...task, status: "pending" });
        }
        if (url === "/v1/opencode/worker/claim") {
          const [c] = await store.claim(1);
          if (!c) {
            res.writeHead(204).end();
            return;
          }
          return json(200, claimBody(c));
        }
        if (url === "/v1/opencode/worker/claims") return json(200, { claims: (await store.claim(body.max_tasks ?? 1)).map(claimBody) });
        if (url === "/v1/opencode/worker/completions") {
          const list = body.completions as { task_id: string; lease_token: string }[];
          const ok = await store.complete(list.map((c) => ({ id: c.task_id, token: c.lease_token })));
          return json(200, {
            results: list.map((c) =>
              ok.has(c.task_id)
                ? { task_id: c.task_id, ok: true, task: { id: c.task_id, status: "completed" } }
                : { task_id: c.task_id, ok: false, error: "conflict", detail: "lease lost" },
            ),
          });
        }
        const complete = /^\/v1\/opencode\/worker\/tasks\/([^/]+)\/complete$/.exec(url);
        if (complete) {
          const ok = await store.complete([{ id: complete[1]!, token: body.lease_token }]);
          return ok.size > 0 ? json(200, { id: complete[1], status: "completed" }) : json(409, { detail: "lease lost" });
        }
        json(404, { detail: "not found" });
      })().catch((err) => json(500, { detail: String(err) }));
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}
