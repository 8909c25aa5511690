/**
 * The models one OpenCode can run, read through its provider API and kept for a
 * few seconds, so a models list or a trigger's model check costs nothing most of
 * the time and never waits on an unreachable OpenCode for more than a second.
 */
import type { RunnerModels } from "../contracts/models.js";
import type { OpencodeClient } from "./client.js";
import { readRunnerModels } from "./models.js";

const freshForMs = 5_000;

export class ModelCache {
  private value: RunnerModels | null = null;
  private readAt = 0;
  private reading: Promise<RunnerModels | null> | null = null;

  constructor(private readonly connect: () => Promise<OpencodeClient>) {}

  /** The last answer without waiting; null when OpenCode has not answered (yet, or since it failed). */
  known(): RunnerModels | null {
    return this.value;
  }

  /** A fresh answer, waiting at most `maxWaitMs` for it (then the last known one, or null). */
  async get(maxWaitMs = 1000): Promise<RunnerModels | null> {
    if (this.value && Date.now() - this.readAt < freshForMs) return this.value;
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), maxWaitMs);
    });
    try {
      return (await Promise.race([this.reading, waited])) ?? this.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * For a run's model check, on the hot path of every trigger: what OpenCode can run
   * changes only when its configuration does (which invalidates this), so a known
   * answer is used at once, refreshed in the background when it is old.
   */
  async forRun(): Promise<RunnerModels | null> {
    if (this.value && this.readAt > 0) {
      if (Date.now() - this.readAt >= freshForMs) this.reading ??= this.read().finally(() => (this.reading = null));
      return this.value;
    }
    return this.get();
  }

  /** Forget the answer (OpenCode restarted with another configuration). */
  invalidate(): void {
    this.readAt = 0;
  }

  private async read(): Promise<RunnerModels | null> {
    try {
      this.value = await readRunnerModels(await this.connect());
    } catch {
      this.value = null;
    }
    this.readAt = Date.now();
    return this.value;
  }
}
