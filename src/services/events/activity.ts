/**
 * Which codebases' streams moved, for clients that show lists (a dashboard): one
 * subscription for the whole server instead of one stream per codebase. Changes
 * are coalesced and sent at most a few times a second; the events themselves are
 * read from each codebase's own stream.
 */
import { canSeeCodebase } from "../../contracts/access.js";
import type { ServiceContext } from "../context.js";

export interface Activity {
  /** Codebases whose event stream moved since the last message, with their newest event id. */
  codebases: { codebase_id: string; head: number }[];
}

const coalesceMs = 250;

export async function* followActivity({ ctx, signal }: { ctx: ServiceContext; signal: AbortSignal }): AsyncGenerator<Activity> {
  const changed = new Map<string, number>();
  let wake: (() => void) | null = null;
  const unwatch = ctx.events.watch((streamId, head) => {
    // A key limited to codebases hears of those alone.
    if (!canSeeCodebase(ctx.caller, streamId)) return;
    changed.set(streamId, head);
    wake?.();
  });
  const stop = () => wake?.();
  signal.addEventListener("abort", stop, { once: true });
  try {
    while (!signal.aborted) {
      if (changed.size === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, coalesceMs));
      const batch = [...changed].map(([codebase_id, head]) => ({ codebase_id, head }));
      changed.clear();
      if (batch.length > 0) yield { codebases: batch };
    }
  } finally {
    unwatch();
    signal.removeEventListener("abort", stop);
  }
}
