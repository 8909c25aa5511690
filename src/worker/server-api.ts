/**
 * The worker's HTTP client for the server's worker protocol. Network failures
 * and 5xx answers are retryable; 409 "lease lost" means stop; other 4xx are bugs.
 */
import { LeaseLostError } from "../tasks/execute.js";

export class RetryableError extends Error {
  override name = "RetryableError";
}

export class ServerApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 15_000,
  ) {}

  /** POSTs JSON; resolves with the parsed body, or null for 204. */
  async post<T>(path: string, body: unknown): Promise<T | null> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new RetryableError(`server unreachable: ${(err as Error).message}`);
    }
    if (res.status === 204) return null;
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as T & { detail?: string }) : null;
    if (res.ok) return parsed;
    const detail = (parsed as { detail?: string } | null)?.detail ?? text.slice(0, 200);
    if (res.status === 409 && detail.startsWith("lease lost")) throw new LeaseLostError();
    if (res.status >= 500 || res.status === 429) throw new RetryableError(`HTTP ${res.status}: ${detail}`);
    throw new Error(`HTTP ${res.status} from ${path}: ${detail}`);
  }
}

/**
 * Repeats `call` while it fails with a RetryableError, with jittered backoff
 * capped at 5 s, until it succeeds, fails otherwise, or `signal` aborts.
 */
export async function withRetry<T>(call: () => Promise<T>, signal?: AbortSignal, onRetry?: (err: Error) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof RetryableError) || signal?.aborted) throw err;
      onRetry?.(err);
      const delay = Math.min(5000, 250 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
