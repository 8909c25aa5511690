/** Riding out a database outage: try again until the database answers. */
import { isDatabaseUnavailable } from "../contracts/errors.js";

/**
 * Runs `work` until it succeeds, waiting `retryMs` between tries while the
 * database cannot be reached; other errors pass through. With a `signal`, gives
 * up (resolving `undefined`) once it aborts.
 */
export async function untilDatabaseAnswers<T>(work: () => Promise<T>, options: { retryMs?: number; signal?: AbortSignal } = {}): Promise<T | undefined> {
  const { retryMs = 1000, signal } = options;
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, retryMs);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done, { once: true });
      });
      if (signal?.aborted) return undefined;
    }
  }
}
