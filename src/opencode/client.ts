/**
 * A small typed client for the HTTP API of `opencode serve` (1.18.x, classic routes).
 * Every call names the directory it is about and has a timeout, because a request
 * to a server that is still starting can hang forever.
 */
import { readSse } from "./sse.js";

export interface OcSession {
  id: string;
  title: string;
  directory: string;
  parentID?: string;
  time: { created: number; updated: number };
}

export interface OcMessageInfo {
  id: string;
  sessionID: string;
  role: "user" | "assistant";
  time: { created: number; completed?: number };
  agent?: string;
  mode?: string;
  providerID?: string;
  modelID?: string;
  model?: { providerID: string; modelID: string };
  cost?: number;
  tokens?: Record<string, unknown>;
  error?: { name: string; data?: { message?: string } };
}

export interface OcPart {
  id: string;
  sessionID: string;
  messageID: string;
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface OcMessage {
  info: OcMessageInfo;
  parts: OcPart[];
}

/** A provider as `GET /config/providers` lists it. Its `options` may hold an API key: never pass them on. */
export interface OcProvider {
  id: string;
  name: string;
  models: Record<string, OcProviderModel>;
}

export interface OcProviderModel {
  id: string;
  name: string;
  status?: string;
  capabilities?: { reasoning?: boolean; attachment?: boolean; toolcall?: boolean };
  cost?: { input?: number; output?: number; cache?: { read?: number; write?: number } };
  limit?: { context?: number; output?: number };
}

/** One event from `/global/event`: the directory it belongs to and OpenCode's own event. */
export interface OcGlobalEvent {
  directory?: string;
  payload: { id?: string; type: string; properties: Record<string, unknown> };
}

export type PermissionReply = "once" | "always" | "reject";

class OpencodeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`OpenCode ${what} failed with HTTP ${status}: ${body.slice(0, 300)}`);
    this.name = "OpencodeHttpError";
  }
}

export class OpencodeClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {}

  private async call<T>(method: string, route: string, directory: string | null, body?: unknown): Promise<T> {
    const url = new URL(route, this.baseUrl);
    if (directory) url.searchParams.set("directory", directory);
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new OpencodeHttpError(res.status, text, `${method} ${route}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  health(): Promise<{ healthy: boolean; version: string }> {
    return this.call("GET", "/global/health", null);
  }

  /**
   * Whether the server answers OpenCode 2's API instead (its routes under `/api/*`):
   * asked only when `/global/health` did not answer, to tell "nothing there" from "a newer OpenCode".
   */
  async speaksApiV2(): Promise<boolean> {
    for (const route of ["/api/health", "/api/session"]) {
      const ok = await fetch(new URL(route, this.baseUrl), { signal: AbortSignal.timeout(this.timeoutMs) }).then(
        (res) => res.ok && (res.headers.get("content-type") ?? "").includes("json"),
        () => false,
      );
      if (ok) return true;
    }
    return false;
  }

  /** Providers that are configured and have credentials, with their models (`GET /config/providers`). */
  providers(): Promise<{ providers: OcProvider[]; default: Record<string, string> }> {
    return this.call("GET", "/config/providers", null);
  }

  /** The effective configuration; only `model` (the configured default) is read. */
  config(): Promise<{ model?: string }> {
    return this.call("GET", "/config", null);
  }

  createSession(
    directory: string,
    body: { title?: string; permission?: { permission: string; pattern: string; action: "allow" | "ask" | "deny" }[] },
  ): Promise<OcSession> {
    return this.call("POST", "/session", directory, body);
  }

  async getSession(directory: string, id: string): Promise<OcSession | null> {
    try {
      return await this.call<OcSession>("GET", `/session/${encodeURIComponent(id)}`, directory);
    } catch (err) {
      if (err instanceof OpencodeHttpError && err.status === 404) return null;
      throw err;
    }
  }

  /** Deletes a session and its messages (a session made for a run that did not start). */
  async deleteSession(directory: string, id: string): Promise<void> {
    await this.call("DELETE", `/session/${encodeURIComponent(id)}`, directory);
  }

  /** Sessions of the project that `directory` belongs to. */
  listSessions(directory: string): Promise<OcSession[]> {
    return this.call("GET", "/session", directory);
  }

  messages(directory: string, id: string): Promise<OcMessage[]> {
    return this.call("GET", `/session/${encodeURIComponent(id)}/message`, directory);
  }

  /** Queues a prompt and returns at once (OpenCode answers 204). */
  async promptAsync(directory: string, id: string, prompt: { agent: string; model?: { providerID: string; modelID: string }; text: string }): Promise<void> {
    await this.call("POST", `/session/${encodeURIComponent(id)}/prompt_async`, directory, {
      agent: prompt.agent,
      ...(prompt.model ? { model: prompt.model } : {}),
      parts: [{ type: "text", text: prompt.text }],
    });
  }

  /** Lets OpenCode forget a directory it has served (its per-directory state, file watcher included). */
  async disposeInstance(directory: string): Promise<void> {
    await this.call("POST", "/instance/dispose", directory);
  }

  async abort(directory: string, id: string): Promise<void> {
    await this.call("POST", `/session/${encodeURIComponent(id)}/abort`, directory);
  }

  async replyPermission(directory: string, requestId: string, reply: PermissionReply, message?: string): Promise<void> {
    await this.call("POST", `/permission/${encodeURIComponent(requestId)}/reply`, directory, {
      reply,
      ...(message ? { message } : {}),
    });
  }

  /**
   * Every event of every directory, until `signal` aborts or the connection drops
   * (then the generator throws or returns; OpenCode's stream cannot be resumed).
   */
  async *globalEvents(signal: AbortSignal): AsyncGenerator<OcGlobalEvent> {
    const res = await fetch(new URL("/global/event", this.baseUrl), {
      headers: { accept: "text/event-stream" },
      signal,
    });
    if (!res.ok || !res.body) throw new OpencodeHttpError(res.status, await res.text(), "GET /global/event");
    for await (const message of readSse(res.body)) {
      if (!message.data) continue;
      const parsed = JSON.parse(message.data) as Partial<OcGlobalEvent>;
      const payload = parsed?.payload;
      // "sync" records mirror OpenCode's own event log; the bus events beside them carry the same facts.
      if (!payload?.type || payload.type === "sync") continue;
      yield { directory: parsed.directory, payload: { ...payload, properties: payload.properties ?? {} } };
    }
  }
}
