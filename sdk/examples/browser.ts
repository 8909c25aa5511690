/**
 * In a browser. By default the SDK's EventSource is the fetch-based `eventsource` package,
 * which sends `Authorization: Bearer <key>` like every other request. To use the browser's
 * native EventSource instead, pass it: native EventSource cannot send headers, so the SDK
 * then sends the key as tRPC connection params in the subscription URL (the server accepts
 * a key there only for GET requests under /trpc: reads and subscriptions, never writes).
 */
import { type AgentEvent, createCodeTetherClient } from "@codetether/sdk";

/** Follows a codebase's events into `render`, until `signal` aborts. */
export async function follow(apiKey: string, codebaseId: string, render: (event: AgentEvent) => void, signal: AbortSignal) {
  const ct = createCodeTetherClient({ url: window.location.origin, apiKey, EventSource: window.EventSource });
  for await (const event of ct.events(codebaseId, { signal })) render(event);
}
