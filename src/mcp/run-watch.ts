/**
 * Following one triggered run to its end for an MCP client: its outcome, the
 * agent's final text and the files it changed, with progress reported on the way
 * (every status change, each tool and file, and the output at most four times a second).
 */

import { runFilterFor } from "../contracts/run-filter.js";
import type { ServiceContext } from "../services/context.js";
import { followEvents } from "../services/events/follow.js";
import type { TriggerAnswer } from "../services/sessions/sessions.types.js";

export interface RunResult {
  outcome: "completed" | "failed" | "aborted" | "cancelled" | "still_running";
  final_text: string;
  files_changed: { action: string; path: string }[];
  error: string | null;
  session_id: string | null;
}

const outputEveryMs = 250;

export async function watchRun(
  ctx: ServiceContext,
  codebaseId: string,
  started: Pick<TriggerAnswer, "run_id" | "session_id" | "last_event_id" | "status">,
  options: { timeoutMs: number; signal?: AbortSignal; progress?: (message: string) => void },
): Promise<RunResult> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), options.timeoutMs);
  const onAbort = () => stop.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const run = runFilterFor(started);
  const texts = new Map<string, Map<string, string>>(); // message → part → text
  let lastMessage: string | undefined;
  const files: RunResult["files_changed"] = [];
  let lastOutputNote = 0;
  try {
    for await (const event of followEvents({ ctx, streamId: codebaseId, after: started.last_event_id, signal: stop.signal })) {
      if (!run.keeps(event)) continue;
      switch (event.type) {
        case "status":
          options.progress?.(`status: ${event.data.status}${event.data.message ? ` (${event.data.message})` : ""}`);
          break;
        case "output": {
          const parts = texts.get(event.data.message_id) ?? new Map<string, string>();
          parts.set(event.data.part_id, (parts.get(event.data.part_id) ?? "") + event.data.content);
          texts.set(event.data.message_id, parts);
          lastMessage = event.data.message_id;
          if (Date.now() - lastOutputNote >= outputEveryMs) {
            lastOutputNote = Date.now();
            options.progress?.(`writing: …${[...parts.values()].join("").slice(-120)}`);
          }
          break;
        }
        case "tool_use":
          if (event.data.status === "completed" || event.data.status === "error") options.progress?.(`tool ${event.data.tool}: ${event.data.status}`);
          break;
        case "file_change":
          files.push({ action: event.data.action, path: event.data.path });
          options.progress?.(`file ${event.data.action}: ${event.data.path}`);
          break;
        case "complete":
          return {
            outcome: event.data.status,
            final_text: finalText(texts, lastMessage),
            files_changed: files,
            error: event.data.error ?? null,
            session_id: run.sessionId,
          };
        default:
          break;
      }
    }
    return { outcome: "still_running", final_text: finalText(texts, lastMessage), files_changed: files, error: null, session_id: run.sessionId };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

function finalText(texts: Map<string, Map<string, string>>, last: string | undefined): string {
  return last ? [...(texts.get(last)?.values() ?? [])].join("") : "";
}
