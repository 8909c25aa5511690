/**
 * What the browser test runs inside Chromium, bundled with the built SDK: the
 * README's browser example (native EventSource, key as connection params) and
 * the default client (fetch-based EventSource with the bearer header).
 */
import { type AgentEvent, createCodeTetherClient } from "@codetether/sdk";
import { follow } from "../../../sdk/examples/browser.js";
import type { PageResult, PageRun } from "../browser-result.js";

async function run(apiKey: string, codebaseId: string): Promise<PageResult> {
  const ct = createCodeTetherClient({ url: window.location.origin, apiKey });
  const [{ models }, codebases] = await Promise.all([ct.listModels(), ct.listCodebases()]); // one batched request
  if (!codebases.some((c) => c.id === codebaseId)) throw new Error("codebase not listed");

  const native: AgentEvent[] = [];
  const stopNative = new AbortController();
  const nativeDone = follow(apiKey, codebaseId, (e) => native.push(e), stopNative.signal).catch(() => {});

  const started = await ct.trigger(codebaseId, { prompt: "Say hello from the browser" });
  const types: string[] = [];
  let said = "";
  for await (const event of started) {
    types.push(event.type);
    if (event.type === "output") said += event.data.content;
  }
  // The test server is warm (OpenCode up), so the trigger names its session at once.
  const sessionId = started.response.session_id!;
  // The native stream follows the whole codebase; wait until it has this run's end too.
  for (let i = 0; i < 200 && !native.some((e) => e.type === "complete" && e.data.session_id === sessionId); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  stopNative.abort();
  await nativeDone;

  const mine = native.filter((e) => e.data.session_id === sessionId);
  const resumedAfter = mine[1]!.id;
  const resumedIds: number[] = [];
  for await (const event of ct.events(codebaseId, { sessionId, lastEventId: resumedAfter })) {
    resumedIds.push(event.id);
    if (event.type === "complete") break;
  }
  return { sessionId, types, said, nativeTypes: mine.map((e) => e.type), resumedAfter, resumedIds, models: models.length };
}

(globalThis as unknown as { codetetherTest: PageRun }).codetetherTest = run;
