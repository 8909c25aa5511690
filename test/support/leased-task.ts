/**
 * Producing events the way a `codetether-worker` does, over the public protocol
 * only: register a codebase and a worker that has it, queue a task, claim it, and
 * upload numbered events under the lease. Used by fan-out tests and benchmarks.
 */
import type { NewEvent } from "../../src/contracts/events.js";

export interface LeasedTask {
  codebaseId: string;
  taskId: string;
  leaseToken: string;
  /** Uploads events with the next worker seqs; resolves with the server's answer. */
  upload(events: NewEvent[]): Promise<{ acked_through: number; stored: number }>;
  /** Stops keeping the lease alive (it is renewed every third of its length until then, as a worker does). */
  stop(): void;
}

export async function leaseTask(baseUrl: string, options: { name: string; path: string; headers?: Record<string, string> }): Promise<LeasedTask> {
  const headers = { "content-type": "application/json", ...options.headers };
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>);
  };
  const codebase = await call("POST", "/v1/opencode/codebases", { name: options.name, path: options.path });
  const worker = `w-${options.name}`;
  await call("POST", "/v1/opencode/worker/register", { name: worker, codebases: [{ name: options.name, path: options.path }], concurrency: 1 });
  const task = await call("POST", `/v1/opencode/codebases/${codebase!.id}/tasks`, { title: "produce events", prompt: "produce events" });
  const claim = (await call("POST", "/v1/opencode/worker/claim", { name: worker })) as
    | { lease_token: string; lease_seconds: number; task: { id: string } }
    | undefined;
  if (!claim || claim.task.id !== task!.id) throw new Error("the worker did not claim the task it was meant to");
  // A long test on a loaded machine outlives a lease: keep it, as a worker would.
  const beat = setInterval(
    () => void call("POST", `/v1/opencode/worker/tasks/${claim.task.id}/heartbeat`, { lease_token: claim.lease_token }).catch(() => {}),
    Math.max(500, (claim.lease_seconds * 1000) / 3),
  );
  beat.unref();
  let seq = 0;
  return {
    codebaseId: codebase!.id as string,
    taskId: claim.task.id,
    leaseToken: claim.lease_token,
    upload: async (events) => {
      const body = { lease_token: claim.lease_token, events: events.map((e) => ({ seq: ++seq, type: e.type, data: e.data })) };
      return (await call("POST", `/v1/opencode/worker/tasks/${claim.task.id}/events`, body)) as { acked_through: number; stored: number };
    },
    stop: () => clearInterval(beat),
  };
}
