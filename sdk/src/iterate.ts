/** Subscriptions as async iterators, so callers can `for await` and `break`. */

/** The callbacks a tRPC subscription reports to. */
export interface SubscriptionHandlers<T> {
  onData(value: T): void;
  onError(error: unknown): void;
  onComplete(): void;
}

/**
 * Starts a callback-style subscription and reads it as an async iterator. Values queue
 * until read; an error ends the loop by throwing; leaving the loop (break, return, throw)
 * or aborting `signal` unsubscribes. An abort throws `signal.reason`, as fetch does.
 */
export function subscriptionIterator<T>(start: (handlers: SubscriptionHandlers<T>) => { unsubscribe(): void }, signal?: AbortSignal): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let failure: { error: unknown } | null = null;
  let ended = false;
  let closed = false;
  let wake: (() => void) | null = null;
  let subscription: { unsubscribe(): void } | null = null;

  const notify = () => {
    wake?.();
    wake = null;
  };
  const close = () => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener("abort", onAbort);
    subscription?.unsubscribe();
  };
  const onAbort = () => {
    failure ??= { error: signal?.reason };
    close();
    notify();
  };

  if (signal?.aborted) failure = { error: signal.reason };
  else {
    signal?.addEventListener("abort", onAbort, { once: true });
    subscription = start({
      onData: (value) => {
        if (closed) return;
        queue.push(value);
        notify();
      },
      onError: (error) => {
        failure ??= { error };
        ended = true;
        notify();
      },
      onComplete: () => {
        ended = true;
        notify();
      },
    });
    // The subscription may have failed or been aborted while starting.
    if (closed) subscription.unsubscribe();
  }

  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        // An abort wins over queued values; a server error only after them.
        if (failure && (closed || queue.length === 0)) {
          const { error } = failure;
          close();
          queue.length = 0;
          failure = null;
          ended = true;
          throw error;
        }
        if (queue.length > 0) return { value: queue.shift() as T, done: false };
        if (ended || closed) {
          close();
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async return(): Promise<IteratorResult<T>> {
      close();
      queue.length = 0;
      return { value: undefined, done: true };
    },
  };
  return iterator;
}
