/**
 * Issue #3's figures, with the real opencode against the scripted model:
 *  - latency CodeTether adds between OpenCode emitting an event and an SSE client receiving it;
 *  - the time to the first event of a prompt through CodeTether versus straight against `opencode serve`.
 */
import { performance } from "node:perf_hooks";
import { OpencodeClient } from "../src/opencode/client.js";
import { startAgentServer } from "../test/support/agent-server.js";
import { connectSse } from "../test/support/sse-client.js";
import { ms, summary } from "./stats.js";

export async function benchBridge(): Promise<Record<string, string>> {
  const s = await startAgentServer();
  try {
    const dir = await s.sandbox.createCodebase("bench");
    // No worktree: the same directory as the direct path below, so both prompt one warm OpenCode instance
    // (a worktree is a directory of its own, whose first prompt pays OpenCode's per-directory set-up: timed apart).
    const cb = (await s.api("POST", "/v1/opencode/codebases", { name: "bench", path: dir, agent_config: { isolation: "none" } })).body;
    const eventsUrl = `${s.server.url}/v1/opencode/codebases/${cb.id}/events`;

    // Warm OpenCode's per-directory instance (its first prompt pays ~3 s of set-up).
    s.llm.setScript([{ text: "warm" }]);
    let t = await s.api("POST", `/v1/opencode/codebases/${cb.id}/trigger`, { prompt: "warm up" });
    await waitComplete(eventsUrl, t.body.last_event_id);
    const direct = new OpencodeClient(s.server.ctx.bridge.connection.status().url!);

    // 1. Added latency: the same output delta seen on OpenCode's own stream and on our SSE stream.
    const tokens = 400;
    const text = Array.from({ length: tokens }, (_, i) => `t${String(i).padStart(4, "0")} `).join("");
    s.llm.setScript([{ text, chunks: tokens, chunkDelayMs: 2 }]);
    const seenDirect = new Map<string, number>();
    const abortDirect = new AbortController();
    const directDone = (async () => {
      for await (const e of direct.globalEvents(abortDirect.signal)) {
        if (e.payload.type === "message.part.delta") seenDirect.set(String(e.payload.properties.delta), performance.now());
      }
    })().catch(() => {});
    const head = await s.server.ctx.events.head(cb.id);
    const sse = await connectSse(eventsUrl, { "last-event-id": String(head) });
    const seenSse = new Map<string, number>();
    const originalPush = sse.events.push.bind(sse.events);
    sse.events.push = (...items) => {
      for (const e of items) if (e.event === "output") seenSse.set(JSON.parse(e.data).content, performance.now());
      return originalPush(...items);
    };
    t = await s.api("POST", `/v1/opencode/codebases/${cb.id}/trigger`, { prompt: "stream tokens" });
    for (let n = 1; ; n++) if ((await sse.waitFor(n))[n - 1]!.event === "complete") break;
    sse.close();
    abortDirect.abort();
    await directDone;
    const added: number[] = [];
    for (const [content, at] of seenSse) {
      const before = seenDirect.get(content);
      if (before !== undefined) added.push(at - before);
    }
    const latency = summary(added);

    // 2. Time to first event: trigger → first SSE output, versus prompt_async → first delta on /event.
    const rounds = 10;
    const viaUs: number[] = [];
    const viaDirect: number[] = [];
    for (let i = 0; i < rounds; i++) {
      s.llm.setScript([{ text: "first event" }]);
      const h = await s.server.ctx.events.head(cb.id);
      const stream = await connectSse(eventsUrl, { "last-event-id": String(h) });
      const start = performance.now();
      // A new session each time, as the direct path makes one (resuming would grow one session's history each round).
      t = await s.api("POST", `/v1/opencode/codebases/${cb.id}/trigger`, { prompt: `ttfe ${i}`, new_session: true });
      for (let n = 1; ; n++) {
        const e = (await stream.waitFor(n))[n - 1]!;
        if (e.event === "output" && !viaUs[i]) viaUs[i] = performance.now() - start;
        if (e.event === "complete") break;
      }
      stream.close();

      s.llm.setScript([{ text: "first event" }]);
      const abort = new AbortController();
      // A trigger without a session makes one, so the direct path does too: create, then prompt_async.
      let session: { id: string } | undefined;
      let first = 0;
      let begin = 0;
      const done = new Promise<void>((resolve) => {
        void (async () => {
          for await (const e of direct.globalEvents(abort.signal)) {
            if (e.payload.type === "server.connected") {
              begin = performance.now();
              session = await direct.createSession(dir, { title: `direct ${i}` });
              await direct.promptAsync(dir, session.id, { agent: "build", text: `ttfe direct ${i}` });
            }
            if (!session || e.payload.properties.sessionID !== session.id) continue;
            if (e.payload.type === "message.part.delta" && !first) first = performance.now() - begin;
            if (e.payload.type === "session.idle") return resolve();
          }
        })().catch(() => resolve());
      });
      await done;
      abort.abort();
      viaDirect.push(first);
    }
    const ours = summary(viaUs);
    const theirs = summary(viaDirect);
    return {
      "added latency OpenCode event → SSE client (median / p99)": `${ms(latency.median)} / ${ms(latency.p99)} over ${latency.n} output events`,
      "time to first output event through CodeTether (median of 10)": ms(ours.median),
      "time to first output event straight against opencode serve (median of 10)": ms(theirs.median),
      "… through CodeTether / straight, same run": `${(ours.median / theirs.median).toFixed(2)}×`,
    };
  } finally {
    await s.close();
  }
}

async function waitComplete(url: string, after: number): Promise<void> {
  const sse = await connectSse(url, { "last-event-id": String(after) });
  for (let n = 1; ; n++) if ((await sse.waitFor(n))[n - 1]!.event === "complete") break;
  sse.close();
}
