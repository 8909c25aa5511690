/**
 * A webhook receiver on loopback, as a user would write one: it verifies each request with the
 * `standardwebhooks` library (an implementation independent of ours) and records what arrived.
 * `respond` decides each answer: a status, or `hold` to keep the request open (the sender dies mid-attempt).
 */

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import type { TestResponse } from "./harness.js";
import { eventually } from "./processes.js";

export interface Received {
  id: string;
  timestamp: string;
  type: string;
  body: Record<string, unknown>;
  /** Whether the signature verified with the endpoint's secret. */
  verified: boolean;
  /** What this receiver answered (0 while held). */
  answered: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** The secret to verify with; set once the endpoint is registered. */
  secret: string | undefined;
  respond: (req: Received, n: number) => number | "hold";
  /** How long each answer takes. */
  delayMs: number;
  /** Deliveries answered 2xx, by webhook-id. */
  accepted(): Map<string, number>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const held: IncomingMessage[] = [];
  const receiver: Receiver = {
    url: "",
    received: [],
    secret: undefined,
    respond: () => 200,
    delayMs: 0,
    accepted() {
      const out = new Map<string, number>();
      for (const r of this.received) if (r.answered >= 200 && r.answered < 300) out.set(r.id, (out.get(r.id) ?? 0) + 1);
      return out;
    },
    close: async () => {
      for (const req of held) req.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const headers = {
        "webhook-id": String(req.headers["webhook-id"] ?? ""),
        "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
        "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
      };
      let verified = false;
      try {
        new Webhook(receiver.secret ?? "whsec_AAAA").verify(raw, headers);
        verified = true;
      } catch {}
      const body = JSON.parse(raw) as Record<string, unknown>;
      const entry: Received = { id: headers["webhook-id"], timestamp: headers["webhook-timestamp"], type: String(body.type), body, verified, answered: 0 };
      receiver.received.push(entry);
      const answer = receiver.respond(entry, receiver.received.length);
      if (answer === "hold") {
        held.push(req);
        return;
      }
      setTimeout(() => {
        entry.answered = answer;
        res.writeHead(answer, answer >= 300 && answer < 400 ? { location: `${receiver.url}/elsewhere` } : {}).end(answer >= 400 ? "not now" : "ok");
      }, receiver.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

/** Every event type an endpoint can ask for, but the test message. */
export const allTypes = [
  "run.started",
  "run.permission_requested",
  "run.completed",
  "run.failed",
  "run.aborted",
  "task.completed",
  "task.failed",
  "worker.offline",
  "budget.exceeded",
  "diff.ready",
];

/** A task run as a worker reports it: started, asks a permission, goes over budget, a final diff, then `status`. */
export async function runTask(
  h: { tmp: string; request(method: string, url: string, body?: unknown): Promise<TestResponse> },
  name: string,
  status: "completed" | "failed",
) {
  const json = async (method: string, url: string, body?: unknown) => {
    const res = await h.request(method, url, body);
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${await res.clone().text()}`);
    return res.json();
  };
  const codebase = await json("POST", "/v1/opencode/codebases", { name, path: h.tmp });
  const worker = `w-${name}`;
  await json("POST", "/v1/opencode/worker/register", { name: worker, codebases: [{ name, path: h.tmp }] });
  const task = await json("POST", `/v1/opencode/codebases/${codebase.id}/tasks`, { title: "hook me", prompt: "hook me", max_attempts: 1 });
  const claim = await json("POST", "/v1/opencode/worker/claim", { name: worker });
  assert.equal(claim.task.id, task.id);
  const session_id = `ses_${name}`;
  const events = [
    { type: "status", data: { session_id, status: "running", agent: "build", model: "test/model" } },
    { type: "output", data: { session_id, message_id: "m1", part_id: "p1", content: "working" } },
    { type: "permission", data: { session_id, permission_id: "per_1", permission: "bash", patterns: ["rm *"], state: "asked", timeout_seconds: 60 } },
    { type: "error", data: { session_id, name: "BudgetExceeded", message: "Stopped: over budget" } },
    {
      type: "diff",
      data: {
        session_id,
        worktree_id: "wt_1",
        branch: "ct/x",
        base_commit: "a",
        head_commit: "b",
        files: 1,
        additions: 2,
        deletions: 0,
        truncated: false,
        final: true,
      },
    },
  ].map((e, i) => ({ seq: i + 1, ...e }));
  await json("POST", `/v1/opencode/worker/tasks/${task.id}/events`, { lease_token: claim.lease_token, events });
  await json("POST", `/v1/opencode/worker/tasks/${task.id}/complete`, {
    lease_token: claim.lease_token,
    status,
    session_id,
    ...(status === "failed" ? { error: "it broke" } : {}),
  });
  return { codebaseId: codebase.id as string, taskId: task.id as string, sessionId: session_id };
}

/**
 * One delivery once the server has recorded its outcome. A receiver has a message before the server writes
 * down the answer it gave, so right after the receiver saw it the delivery may still read `pending`.
 */
export function recordedDelivery(
  request: (method: string, url: string) => Promise<TestResponse>,
  hookId: string,
  deliveryId: string,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
): Promise<any> {
  return eventually(
    async () => {
      const d = await (await request("GET", `/v1/opencode/webhooks/${hookId}/deliveries/${deliveryId}`)).json();
      return d.status === "pending" ? undefined : d;
    },
    10_000,
    `delivery ${deliveryId}'s outcome recorded`,
  );
}
