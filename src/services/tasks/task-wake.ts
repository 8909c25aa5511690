/**
 * Waking claims that wait for work. A transaction that makes a task runnable (a new
 * task, one released or requeued) sends a NOTIFY hint on `codetether_tasks`; every
 * process wakes its waiting claims, which then try to claim. A hint can be lost
 * (across a reconnect) and a requeued task becomes runnable only after its backoff,
 * so a waiting claim also looks again on its own every second.
 */
import { sql } from "drizzle-orm";
import type { Database, Unlisten } from "../../db/client.js";

const tasksChannel = "codetether_tasks";

/** A RETURNING column that sends the hint with the statement itself (no extra round trip). */
export const taskRunnableHint = sql<string>`pg_notify(${tasksChannel}, '')::text`;

export class TaskWake {
  private readonly waiters = new Set<() => void>();
  private generation = 0;
  private unlisten: Unlisten | undefined;

  constructor(private readonly database: Database) {}

  async start(): Promise<void> {
    this.unlisten ??= await this.database.listen(tasksChannel, () => this.wakeAll());
  }

  async stop(): Promise<void> {
    const un = this.unlisten;
    this.unlisten = undefined;
    await un?.().catch(() => {});
    this.wakeAll();
  }

  /** A mark to wait from: a hint that arrives after it (even before `wait` is called) is not missed. */
  mark(): number {
    return this.generation;
  }

  /** Resolves when a hint arrived since `mark`, after `ms`, or when `signal` aborts. */
  wait(mark: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.generation !== mark || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.add(done);
    });
  }

  /** Wakes this process's waiting claims (also called for its own commits, before the hint comes back). */
  wakeAll(): void {
    this.generation++;
    for (const wake of [...this.waiters]) wake();
  }

  /** Claims waiting now, for tests and metrics. */
  get waiting(): number {
    return this.waiters.size;
  }

  private inFlight = 0;

  /** Counts a waiting claim from its first try to its answer (`waiting` drops while it tries). */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (!ended) this.inFlight--;
      ended = true;
    };
  }

  /** Waiting claims in progress, trying or waiting. */
  get active(): number {
    return this.inFlight;
  }
}
