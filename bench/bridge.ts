/**
 * Issue #3's figures, measured from outside: `codetether serve` runs as a process of its own (on PGlite, and on
 * Postgres when a URL is given) with the real `opencode serve` it starts, against the scripted model; this process is
 * the client of both, as a user's program is:
 *  - the latency CodeTether adds between OpenCode emitting an event and an SSE client receiving it (the same text
 *    delta timed on OpenCode's own event stream and on ours);
 *  - the time from a trigger to its first `output` event, against creating a session and prompting the same
 *    OpenCode directly, to its first delta, alternating round by round.
 * With `before` (another checkout), that checkout's server runs too, on the same OpenCode, and takes its turn in
 * each round: before against after in one run.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { OpencodeClient } from "../src/opencode/client.js";
import { freePort } from "../src/opencode/process.js";
import { cliPath, runCli, type ServerProcess, startCli } from "../test/support/cli.js";
import { createPostgresDatabase } from "../test/support/db.js";
import { type FakeLlm, startFakeLlm } from "../test/support/fake-llm.js";
import { createOpencodeSandbox } from "../test/support/opencode-sandbox.js";
import { connectSse } from "../test/support/sse-client.js";
import { ms, summary } from "./stats.js";

/** Rounds of time to first output, each a trigger (per server) and a direct prompt. */
const rounds = 30;

export async function benchBridge(databaseUrl?: string, before?: string): Promise<Record<string, string>> {
  const rows: Record<string, string> = {};
  for (const db of ["PGlite", ...(databaseUrl ? ["Postgres"] : [])]) {
    for (const [k, v] of Object.entries(await benchOne(db === "Postgres" ? databaseUrl : undefined, before))) rows[`${k}, ${db}`] = v;
  }
  return rows;
}

/** One `codetether serve` of the checkout whose bin is `cli`, on a database of its own, and its codebase. */
interface Ours {
  server: ServerProcess;
  eventsUrl: string;
  // biome-ignore lint/suspicious/noExplicitAny: the bench reads arbitrary JSON
  api(method: string, p: string, body?: unknown): Promise<any>;
  triggerUrl: string;
  stop(): Promise<void>;
}

async function startOurs(cli: string, baseEnv: NodeJS.ProcessEnv, databaseUrl: string | undefined, dir: string): Promise<Ours> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "ct-bridge-"));
  const pg = databaseUrl ? await createPostgresDatabase(databaseUrl) : undefined;
  const env = { ...baseEnv, CODETETHER_DATA_DIR: dataDir, DATABASE_URL: pg?.url ?? "" };
  // The embedded database made first, by another process (as every start but the very first finds it).
  if (!pg && (await runCli(["keys", "list"], env)).code !== 0) throw new Error("making the embedded database failed");
  // No node flags: a server that runs for hours keeps V8's optimized code.
  const server = await startCli(["serve", "--port", "0"], env, 60_000, [], cli);
  const api: Ours["api"] = async (method, p, body) => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return res.json();
  };
  let status = await api("GET", "/v1/opencode/status");
  for (const until = Date.now() + 60_000; status.opencode_server?.state !== "ready" && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 100));
    status = await api("GET", "/v1/opencode/status");
  }
  // No worktree: the same directory as the direct path, so every path prompts one warm OpenCode instance
  // (a worktree is a directory of its own, whose first prompt pays OpenCode's per-directory set-up: timed apart).
  const cb = await api("POST", "/v1/opencode/codebases", { name: "bench", path: dir, agent_config: { isolation: "none" } });
  return {
    server,
    api,
    eventsUrl: `${server.url}/v1/opencode/codebases/${cb.id}/events`,
    triggerUrl: `/v1/opencode/codebases/${cb.id}/trigger`,
    stop: async () => {
      server.child.kill("SIGTERM");
      await server.exited;
      await pg?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function benchOne(databaseUrl: string | undefined, before: string | undefined): Promise<Record<string, string>> {
  const llm = await startFakeLlm();
  const sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
  const dir = await sandbox.createCodebase("bench");
  const opencodePort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...sandbox.env,
    CODETETHER_API_KEY: "",
    CODETETHER_WORKER_TOKEN: "",
    // An OpenCode of its own (a free port: nothing answers there yet, so the first server starts one there).
    OPENCODE_HOST: "127.0.0.1",
    OPENCODE_PORT: String(opencodePort),
  };
  const servers: [string, Ours][] = [];
  try {
    servers.push(["CodeTether", await startOurs(cliPath, env, databaseUrl, dir)]);
    // The other checkout's server uses the same OpenCode, which the first one started.
    if (before)
      servers.push(["CodeTether before", await startOurs(path.join(before, "bin/codetether.mjs"), { ...env, OPENCODE_AUTO_START: "false" }, databaseUrl, dir)]);
    const direct = new OpencodeClient(`http://127.0.0.1:${opencodePort}`);
    // Warm OpenCode's per-directory instance (its first prompt pays ~3 s of set-up) and each server's own paths.
    for (const [, ours] of servers) for (let i = 0; i < 3; i++) await firstOutput(ours, llm, `warm up ${i}`);

    // 1. Added latency: the same output delta seen on OpenCode's own stream and on our SSE stream.
    const [, ours] = servers[0]!;
    const tokens = 400;
    const text = Array.from({ length: tokens }, (_, i) => `t${String(i).padStart(4, "0")} `).join("");
    llm.setScript([{ text, chunks: tokens, chunkDelayMs: 2 }]);
    const seenDirect = new Map<string, number>();
    const abortDirect = new AbortController();
    const directDone = (async () => {
      for await (const e of direct.globalEvents(abortDirect.signal)) {
        if (e.payload.type === "message.part.delta") seenDirect.set(String(e.payload.properties.delta), performance.now());
      }
    })().catch(() => {});
    const sse = await connectSse(ours.eventsUrl);
    const seenSse = new Map<string, number>();
    // When each event's statement began (its created_at, the database's clock: this machine's), on this process's clock.
    const storedAt = new Map<string, number>();
    const originalPush = sse.events.push.bind(sse.events);
    sse.events.push = (...items) => {
      for (const e of items) {
        if (e.event !== "output") continue;
        const data = JSON.parse(e.data);
        seenSse.set(data.content, performance.now());
        storedAt.set(data.content, Date.parse(data.created_at) - performance.timeOrigin);
      }
      return originalPush(...items);
    };
    await ours.api("POST", ours.triggerUrl, { prompt: "stream tokens", new_session: true });
    for (let n = 1; ; n++) if ((await sse.waitFor(n))[n - 1]!.event === "complete") break;
    sse.close();
    abortDirect.abort();
    await directDone;
    const added: number[] = [];
    const waited: number[] = [];
    for (const [content, at] of seenSse) {
      const before = seenDirect.get(content);
      if (before === undefined) continue;
      added.push(at - before);
      waited.push(storedAt.get(content)! - before);
    }
    const latency = summary(added);
    // Of it, the time until the event's statement began (in the run's queue behind the statement before, and the
    // server's own work); the rest is the statement, its commit and the delivery.
    const queued = summary(waited);

    // 2. Time to first output: trigger → first SSE output (each server), and create + prompt_async → first delta.
    const times = new Map<string, number[]>();
    const record = (name: string, value: number) => times.set(name, [...(times.get(name) ?? []), value]);
    // Each round in another order: whichever goes first meets what the round before left running (its title request).
    const paths: [string, () => Promise<number>][] = [
      ...servers.map(([name, s]): [string, () => Promise<number>] => [name, () => firstOutput(s, llm, `ttfo ${name}`)]),
      ["direct", () => firstDelta(direct, llm, dir, "ttfo direct")],
    ];
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < paths.length; k++) {
        const [name, time] = paths[(i + k) % paths.length]!;
        // OpenCode finishes a run's aside work (its title request) after the run: let it, so no path meets another's.
        await new Promise((r) => setTimeout(r, 500));
        record(name, await time());
      }
    }
    const med = (name: string) => summary(times.get(name)!).median;
    const out: Record<string, string> = {
      "added latency OpenCode event → SSE client (median / p99)": `${ms(latency.median)} / ${ms(latency.p99)} over ${latency.n} output events (of it, until its statement began: ${ms(queued.median)} / ${ms(queued.p99)})`,
      [`time to first output event through CodeTether, a new session, no worktree (median of ${rounds})`]: ms(med("CodeTether")),
      [`time to first output event straight against opencode serve: create session + prompt (median of ${rounds})`]: ms(med("direct")),
      "… through CodeTether / straight, same run": `${(med("CodeTether") / med("direct")).toFixed(2)}×`,
    };
    if (before)
      out[`… before (${before}) / straight, same run`] = `${(med("CodeTether before") / med("direct")).toFixed(2)}× (${ms(med("CodeTether before"))})`;
    return out;
  } finally {
    for (const [, s] of servers.reverse()) await s.stop();
    await llm.close();
    await sandbox.cleanup();
  }
}

/** A trigger (a new session) → its first `output` on the stream, in ms; waits for the run's end. */
async function firstOutput(ours: Ours, llm: FakeLlm, prompt: string): Promise<number> {
  llm.setScript([{ text: "first event" }]);
  // Without a cursor the stream is live from now: only this run's events.
  const stream = await connectSse(ours.eventsUrl);
  const start = performance.now();
  let first: number | undefined;
  await ours.api("POST", ours.triggerUrl, { prompt, new_session: true });
  for (let n = 1; ; n++) {
    const e = (await stream.waitFor(n))[n - 1]!;
    if (e.event === "output" && first === undefined) first = performance.now() - start;
    if (e.event === "complete") break;
  }
  stream.close();
  return first!;
}

/** A session created and prompted straight on OpenCode → its first text delta, in ms; waits for it to go idle. */
async function firstDelta(direct: OpencodeClient, llm: FakeLlm, dir: string, prompt: string): Promise<number> {
  llm.setScript([{ text: "first event" }]);
  const abort = new AbortController();
  let session: { id: string } | undefined;
  let first = 0;
  let begin = 0;
  await new Promise<void>((resolve) => {
    void (async () => {
      for await (const e of direct.globalEvents(abort.signal)) {
        if (e.payload.type === "server.connected") {
          begin = performance.now();
          session = await direct.createSession(dir, { title: prompt });
          await direct.promptAsync(dir, session.id, { agent: "build", text: prompt });
        }
        if (!session || e.payload.properties.sessionID !== session.id) continue;
        if (e.payload.type === "message.part.delta" && !first) first = performance.now() - begin;
        if (e.payload.type === "session.idle") return resolve();
      }
    })().catch(() => resolve());
  });
  abort.abort();
  return first;
}
