/**
 * The floor for the queue benchmark: an in-memory HTTP server answering the calls the
 * benchmark makes (register, create task, claim, claims, complete, completions) with
 * no database and no validation. What is left is what the clients and HTTP cost.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export async function startQueueFloor(): Promise<{ url: string; close(): Promise<void> }> {
  const pending: { id: string; priority: number }[] = [];
  const leases = new Map<string, string>();
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
      const claim = () => {
        const task = pending.shift();
        if (!task) return null;
        const token = randomUUID();
        leases.set(task.id, token);
        return { task: { id: task.id, priority: task.priority }, lease_token: token, attempt: 1, lease_seconds: 15 };
      };
      if (url === "/v1/opencode/codebases") return json(201, { id: "floor" });
      if (url === "/v1/opencode/worker/register") return json(200, { name: body.name });
      if (url.endsWith("/tasks")) {
        const task = { id: randomUUID(), priority: body.priority ?? 0 };
        pending.push(task);
        return json(201, { ...task, status: "pending" });
      }
      if (url === "/v1/opencode/worker/claim") {
        const c = claim();
        if (!c) {
          res.writeHead(204).end();
          return;
        }
        return json(200, c);
      }
      if (url === "/v1/opencode/worker/claims") {
        const claims = [];
        for (let i = 0; i < (body.max_tasks ?? 1); i++) {
          const c = claim();
          if (!c) break;
          claims.push(c);
        }
        return json(200, { claims });
      }
      if (url === "/v1/opencode/worker/completions") {
        return json(200, {
          results: body.completions.map((c: { task_id: string; lease_token: string }) => {
            const ok = leases.get(c.task_id) === c.lease_token;
            return ok
              ? { task_id: c.task_id, ok, task: { id: c.task_id, status: "completed" } }
              : { task_id: c.task_id, ok, error: "conflict", detail: "lease lost" };
          }),
        });
      }
      const complete = /^\/v1\/opencode\/worker\/tasks\/([^/]+)\/complete$/.exec(url);
      if (complete)
        return leases.get(complete[1]!) === body.lease_token ? json(200, { id: complete[1], status: "completed" }) : json(409, { detail: "lease lost" });
      json(404, { detail: "not found" });
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
