/**
 * A circuit breaker in front of the database. When a request finds the database
 * unreachable, the circuit opens: requests that need the database are answered 503
 * at once (with Retry-After) instead of each waiting on a pool that cannot connect,
 * and a probe checks in the background until the database answers again.
 */
export class DatabaseCircuit {
  private openSince: number | null = null;
  private stopped = false;

  constructor(
    /** A cheap query; resolves once the database answers. */
    private readonly probe: () => Promise<unknown>,
    private readonly probeEveryMs = 500,
    private readonly probeTimeoutMs = 1000,
  ) {}

  isOpen(): boolean {
    return this.openSince !== null;
  }

  /** Seconds a client should wait before trying again. */
  retryAfterSeconds(): number {
    return 1;
  }

  /** A query failed because the database cannot be reached: open, and probe until it is back. */
  trip(): void {
    if (this.openSince !== null || this.stopped) return;
    this.openSince = Date.now();
    void this.probeUntilClosed();
  }

  stop(): void {
    this.stopped = true;
    this.openSince = null;
  }

  private async probeUntilClosed(): Promise<void> {
    while (this.openSince !== null && !this.stopped) {
      await new Promise((r) => setTimeout(r, this.probeEveryMs).unref());
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.probe(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error("probe timed out")), this.probeTimeoutMs);
          }),
        ]);
        this.openSince = null;
      } catch {
        // still down
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
