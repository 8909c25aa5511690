/**
 * A scripted OpenAI-compatible chat-completions server on 127.0.0.1, so the real
 * OpenCode runs offline against answers a test decides. Each chat request takes
 * the next script step; title requests are answered aside and take no step.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type ScriptStep =
  | { text: string; chunks?: number; chunkDelayMs?: number; delayMs?: number }
  | { tool: string; args: Record<string, unknown>; delayMs?: number }
  | { tools: { tool: string; args: Record<string, unknown> }[]; delayMs?: number }
  /** Streams a first chunk, then waits (for abort and kill tests). */
  | { hangMs: number; text?: string }
  | { error: { status: number; message: string } };

export interface RecordedRequest {
  messages: { role: string; content: unknown }[];
  tools: string[];
  title: boolean;
}

export interface FakeLlm {
  /** Base URL for OpenCode's provider config, ending in /v1. */
  url: string;
  port: number;
  setScript(steps: ScriptStep[]): void;
  /**
   * A script of its own for the requests of one conversation: those whose first user
   * message contains `marker` (so runs in parallel each get their own answers).
   */
  setScriptFor(marker: string, steps: ScriptStep[]): void;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  const body = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model: "fake-model", choices: [{ index: 0, delta, finish_reason: finish }] };
  return `data: ${JSON.stringify(body)}\n\n`;
}

const usage = `data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model: "fake-model", choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })}\n\n`;

function isTitleRequest(body: { messages?: { role: string; content: unknown }[] }): boolean {
  const system = body.messages?.find((m) => m.role === "system")?.content;
  const text = typeof system === "string" ? system : JSON.stringify(system ?? "");
  return /title generator/i.test(text);
}

/** Waits `ms`, or less when `signal` aborts (the server closed), so a scripted hang never keeps a test process alive. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

async function answer(res: http.ServerResponse, step: ScriptStep, signal: AbortSignal): Promise<void> {
  if ("error" in step) {
    res.writeHead(step.error.status, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: step.error.message, type: "invalid_request_error" } }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.write(chunk({ role: "assistant", content: "" }));
  if ("hangMs" in step) {
    if (step.text) res.write(chunk({ content: step.text }));
    await sleep(step.hangMs, signal);
    if (!res.destroyed) res.end(chunk({}, "stop") + usage + "data: [DONE]\n\n");
    return;
  }
  if (step.delayMs) await sleep(step.delayMs, signal);
  if ("text" in step) {
    const n = Math.max(1, step.chunks ?? 1);
    const size = Math.ceil(step.text.length / n);
    for (let i = 0; i < step.text.length; i += size) {
      res.write(chunk({ content: step.text.slice(i, i + size) }));
      if (step.chunkDelayMs) await sleep(step.chunkDelayMs, signal);
    }
    res.end(chunk({}, "stop") + usage + "data: [DONE]\n\n");
    return;
  }
  const calls = "tools" in step ? step.tools : [{ tool: step.tool, args: step.args }];
  calls.forEach((c, index) => {
    res.write(chunk({ tool_calls: [{ index, id: `call_${Date.now()}_${index}`, type: "function", function: { name: c.tool, arguments: "" } }] }));
    res.write(chunk({ tool_calls: [{ index, function: { arguments: JSON.stringify(c.args) } }] }));
  });
  res.end(chunk({}, "tool_calls") + usage + "data: [DONE]\n\n");
}

export async function startFakeLlm(opts: { script?: ScriptStep[] } = {}): Promise<FakeLlm> {
  let script = [...(opts.script ?? [])];
  const byMarker = new Map<string, ScriptStep[]>();
  const requests: RecordedRequest[] = [];
  const closing = new AbortController();
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      void (async () => {
        if (req.method === "POST" && req.url === "/__script") {
          script = JSON.parse(raw) as ScriptStep[];
          res.writeHead(204).end();
          return;
        }
        if (req.method === "GET" && req.url === "/__requests") {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(requests));
          return;
        }
        if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
          res.writeHead(404).end();
          return;
        }
        const body = JSON.parse(raw) as { messages?: { role: string; content: unknown }[]; tools?: { function: { name: string } }[] };
        const title = isTitleRequest(body);
        requests.push({ messages: body.messages ?? [], tools: (body.tools ?? []).map((t) => t.function.name), title });
        if (title) return answer(res, { text: "Test session" }, closing.signal);
        const first = JSON.stringify(body.messages?.find((m) => m.role === "user")?.content ?? "");
        const own = [...byMarker.entries()].find(([marker]) => first.includes(marker))?.[1];
        if (own) return answer(res, own.shift() ?? { text: "done" }, closing.signal);
        return answer(res, script.shift() ?? { text: "done" }, closing.signal);
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    setScript: (steps) => {
      script = [...steps];
    },
    setScriptFor: (marker, steps) => {
      byMarker.set(marker, [...steps]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing.abort();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
