/**
 * The worker's HTTP client for the server's worker protocol. Network failures,
 * timeouts, 5xx and 429 answers, and answers that are not our JSON (a proxy's HTML
 * error page, a cut-off body) are retryable; a 409 with `code: "lease_lost"` means stop; only a
 * well-formed 4xx `{"detail"}` from the server itself is final (ServerRefusedError, with its status).
 */
import { LeaseLostError } from "../runner/execute.js";

export class RetryableError extends Error {
  override name = "RetryableError";
}

/** The server refused a call (a 4xx other than a lost lease): asking again the same way would be refused again. */
export class ServerRefusedError extends Error {
  override name = "ServerRefusedError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ServerApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 15_000,
  ) {}

  /**
   * POSTs JSON; resolves with the parsed body, or null for 204. `timeoutMs` overrides
   * the client's (a long poll waits longer); `signal` cancels the call.
   */
  async post<T>(path: string, body: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T | null> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: JSON.stringify(body),
        signal: options.signal
          ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs)])
          : AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      throw new RetryableError(`server unreachable: ${(err as Error).message}`);
    }
    if (res.status === 204) return null;
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new RetryableError(`HTTP ${res.status}: the answer was cut off (${(err as Error).message})`);
    }
    let parsed: (T & { detail?: unknown }) | null;
    try {
      parsed = text ? (JSON.parse(text) as T & { detail?: unknown }) : null;
    } catch {
      // Not from our server (a proxy's error page, say): whatever happened, asking again is safe.
      throw new RetryableError(`HTTP ${res.status}: not a JSON answer (${text.replace(/\s+/g, " ").slice(0, 80)})`);
    }
    if (res.ok) return parsed;
    const detail = typeof parsed?.detail === "string" ? parsed.detail : null;
    if (res.status >= 500 || res.status === 429 || detail === null) {
      throw new RetryableError(`HTTP ${res.status}: ${detail ?? text.replace(/\s+/g, " ").slice(0, 80)}`);
    }
    if (res.status === 409 && (parsed as { code?: unknown } | null)?.code === "lease_lost") throw new LeaseLostError();
    throw new ServerRefusedError(res.status, `HTTP ${res.status} from ${path}: ${detail}`);
  }
}

/**
 * Repeats `call` while it fails with a RetryableError, with jittered backoff
 * capped at 5 s, until it succeeds, fails otherwise, `signal` aborts, or
 * `giveUp()` says further tries are pointless (the lease has lapsed).
 */
export async function withRetry<T>(call: () => Promise<T>, signal?: AbortSignal, onRetry?: (err: Error) => void, giveUp?: () => boolean): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof RetryableError) || signal?.aborted || giveUp?.()) throw err;
      onRetry?.(err);
      const delay = Math.min(5000, 250 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
