/**
 * Where a trigger's time goes, with the real OpenCode and the scripted model: `npx tsx bench/trigger-phases.ts`
 * (NEW=1 for a new session each time, ISOLATION=none for no worktree). It wraps the OpenCode client's calls and
 * prints, as medians of 10 triggers, when each was sent and answered, the trigger's answer and the first `output`.
 */
import { performance } from "node:perf_hooks";
import { startAgentServer } from "../test/support/agent-server.js";
import { connectSse } from "../test/support/sse-client.js";
import { median } from "./stats.js";

const s = await startAgentServer();
const dir = await s.sandbox.createCodebase("ttfo");
const isolation = process.env.ISOLATION ?? "worktree";
const cb = (await s.api("POST", "/v1/opencode/codebases", { name: "ttfo", path: dir, agent_config: { isolation } })).body;
const client = await s.server.ctx.bridge.connection.ensure();
// Wrap the OpenCode client calls and the database to see when each happens.
const marks: [string, number][] = [];
let t0 = 0;
const mark = (what: string) => marks.push([what, performance.now() - t0]);
const calls = client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
for (const name of ["createSession", "getSession", "promptAsync"]) {
  const orig = calls[name]!.bind(client);
  calls[name] = async (...a: unknown[]) => {
    mark(`${name} sent`);
    const r = await orig(...a);
    mark(`${name} answered`);
    return r;
  };
}
const times: Record<string, number[]> = {};
for (let i = 0; i < 12; i++) {
  s.llm.setScript([{ text: "first" }]);
  const head = await s.server.ctx.events.head(cb.id);
  const sse = await connectSse(`${s.server.url}/v1/opencode/codebases/${cb.id}/events`, { "last-event-id": String(head) });
  marks.length = 0;
  t0 = performance.now();
  await s.api("POST", `/v1/opencode/codebases/${cb.id}/trigger`, { prompt: `go ${i}`, ...(process.env.NEW ? { new_session: true } : {}) });
  mark("trigger answered");
  for (let n = 1; ; n++) {
    const e = (await sse.waitFor(n))[n - 1]!;
    if (e.event === "output" && !marks.some(([w]) => w === "first output")) mark("first output");
    if (e.event === "complete") break;
  }
  sse.close();
  // The first two warm up.
  if (i >= 2) for (const [w, ms] of marks) times[w] = [...(times[w] ?? []), ms];
}
for (const [w, v] of Object.entries(times).sort((a, b) => median(a[1]) - median(b[1]))) console.log(`${median(v).toFixed(1).padStart(7)} ms  ${w}`);
await s.close();
process.exit(0);
