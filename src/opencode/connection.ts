/**
 * The bridge's link to one `opencode serve`: an external one at OPENCODE_HOST:PORT
 * when it answers, otherwise (OPENCODE_AUTO_START) one we start and supervise,
 * restarting it with backoff if it dies and stopping it on shutdown. It keeps one
 * `/global/event` subscription open and hands every event to `onEvent`.
 */
import { statSync } from "node:fs";
import type { OpencodeSettings } from "../config.js";
import { ServiceError } from "../contracts/errors.js";
import { chooseOpencodeBinary, isUnsupportedOpencode, supportedOpencodeMajor } from "./binary.js";
import { type OcGlobalEvent, OpencodeClient } from "./client.js";
import { type OpencodeServerProcess, startOpencodeServer } from "./process.js";

export type ConnectionMode = "external" | "managed" | "none";
export type ConnectionState = "idle" | "connecting" | "starting" | "ready" | "restarting" | "failed" | "stopped";

export interface ConnectionStatus {
  mode: ConnectionMode;
  state: ConnectionState;
  url: string | null;
  pid: number | null;
  version: string | null;
  restarts: number;
  last_error: string | null;
}

export interface ConnectionOptions {
  settings: OpencodeSettings;
  /** Environment for a managed `opencode serve` (defaults to this process's). */
  env?: NodeJS.ProcessEnv;
  onEvent: (event: OcGlobalEvent) => void;
  /** The event stream broke: every run in flight has lost its events. */
  onDisconnect: (reason: string) => void;
  /** Handling one of OpenCode's events threw (a bug to log; the stream goes on). */
  onEventError?: (type: string, err: unknown) => void;
  /** The connection changed state (for logs and metrics): with the mode, restart count and last error. */
  onStateChange?: (change: { state: ConnectionState; previous: ConnectionState; mode: ConnectionMode; restarts: number; error: string | null }) => void;
  /** Something an operator should know that is not a state change (an OpenCode 2.x on PATH passed over). */
  onNotice?: (message: string) => void;
}

/** What an external OpenCode of a newer API generation gets told: it cannot be driven, and what to do instead. */
function unsupportedServer(url: string, version: string | null): ServiceError {
  return new ServiceError(
    "UNAVAILABLE",
    `The OpenCode at ${url} is ${version ? `version ${version}` : "OpenCode 2.x (its routes are under /api/*)"}, whose API this CodeTether does not speak yet ` +
      `(it drives OpenCode ${supportedOpencodeMajor}.x). Point OPENCODE_HOST/OPENCODE_PORT at an OpenCode 1.x server, or at a port where nothing ` +
      "listens so CodeTether starts its pinned opencode-ai",
  );
}

const probeTimeoutMs = 2000;
const maxBackoffMs = 30_000;

export class OpencodeConnection {
  private mode: ConnectionMode = "none";
  private current: ConnectionState = "idle";
  private client: OpencodeClient | null = null;
  private process: OpencodeServerProcess | null = null;
  private version: string | null = null;
  private restarts = 0;
  private lastError: string | null = null;
  private connecting: Promise<OpencodeClient> | null = null;
  private pump: AbortController | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Set once by stop(): whatever is still starting must stop itself, and state stays "stopped". */
  private shutDown = false;
  /** The provider config file as the running managed process read it (see configChanged). */
  private configSeen: string | null = null;

  constructor(private readonly options: ConnectionOptions) {}

  private get state(): ConnectionState {
    return this.current;
  }

  private set state(next: ConnectionState) {
    const previous = this.current;
    this.current = next;
    if (next !== previous) this.options.onStateChange?.({ state: next, previous, mode: this.mode, restarts: this.restarts, error: this.lastError });
  }

  /** A cheap fingerprint of the provider config file: changes when it is edited or replaced. */
  private configFingerprint(): string | null {
    const config = this.options.settings.providerConfig;
    if (!config || !("file" in config)) return null;
    try {
      const s = statSync(config.file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return "missing";
    }
  }

  /** The managed OpenCode was started with an older provider config file than the one on disk now. */
  configChanged(): boolean {
    return this.mode === "managed" && this.process !== null && this.configFingerprint() !== this.configSeen;
  }

  /**
   * Stops the managed `opencode serve` on purpose (not a crash: no backoff, no
   * restart count) and starts a new one, which reads the configuration afresh.
   * Callers make sure no run is in flight.
   */
  async restart(): Promise<OpencodeClient> {
    await this.connecting?.catch(() => {});
    const proc = this.process;
    if (this.state === "stopped" || !proc) return this.ensure();
    this.process = null; // its exit is expected: onProcessExit ignores it
    this.pump?.abort();
    this.client = null;
    this.state = "idle";
    await proc.stop();
    return this.ensure();
  }

  status(): ConnectionStatus {
    return {
      mode: this.mode,
      state: this.state,
      url: this.client?.baseUrl ?? null,
      pid: this.process?.pid ?? null,
      version: this.version,
      restarts: this.restarts,
      last_error: this.lastError,
    };
  }

  /** A client whose event stream is live; connects or starts OpenCode first if needed. */
  ensure(): Promise<OpencodeClient> {
    if (this.state === "ready" && this.client) return Promise.resolve(this.client);
    if (this.state === "stopped") return Promise.reject(new ServiceError("UNAVAILABLE", "The server is shutting down"));
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<OpencodeClient> {
    this.state = "connecting";
    const { settings } = this.options;
    try {
      // Our own process is still alive (only its event stream dropped): reattach to it.
      if (this.process) return await this.attach(new OpencodeClient(this.process.url));
      const external = new OpencodeClient(`http://${settings.host}:${settings.port}`, probeTimeoutMs);
      const health = await external.health().catch(() => null);
      if (health?.healthy && isUnsupportedOpencode(health.version)) throw unsupportedServer(external.baseUrl, health.version);
      if (!health && (await external.speaksApiV2())) throw unsupportedServer(external.baseUrl, null);
      if (health?.healthy) {
        this.mode = "external";
        this.version = health.version;
        return await this.attach(new OpencodeClient(external.baseUrl));
      }
      if (!settings.autoStart) {
        throw new ServiceError("UNAVAILABLE", `OpenCode is not answering at ${external.baseUrl} and OPENCODE_AUTO_START is off`);
      }
      return await this.startManaged();
    } catch (err) {
      this.lastError = (err as Error).message;
      if (!this.shutDown) this.state = "failed";
      if (err instanceof ServiceError) throw err;
      throw new ServiceError("UNAVAILABLE", `OpenCode bridge not available: ${(err as Error).message}`, { cause: err });
    }
  }

  private async startManaged(): Promise<OpencodeClient> {
    this.state = "starting";
    const { binary, skipped } = await chooseOpencodeBinary(this.options.settings.binary);
    if (skipped) {
      this.options.onNotice?.(
        `${skipped.binary} is OpenCode ${skipped.version}, whose API this CodeTether does not speak yet: starting the pinned ${binary} instead`,
      );
    }
    if (!binary) throw new ServiceError("UNAVAILABLE", "OpenCode bridge not available: no opencode binary found");
    const env = { ...(this.options.env ?? process.env) };
    if (this.options.settings.dbPath) env.OPENCODE_DB = this.options.settings.dbPath;
    const providerConfig = this.options.settings.providerConfig;
    if (providerConfig && "file" in providerConfig) env.OPENCODE_CONFIG = providerConfig.file;
    if (providerConfig && "content" in providerConfig) env.OPENCODE_CONFIG_CONTENT = providerConfig.content;
    if (!this.options.settings.snapshots) env.OPENCODE_CONFIG_CONTENT = withoutSnapshots(env.OPENCODE_CONFIG_CONTENT);
    if (this.shutDown) throw new ServiceError("UNAVAILABLE", "The server is shutting down");
    this.state = "starting";
    this.configSeen = this.configFingerprint();
    const local = ["localhost", "127.0.0.1", "::1"].includes(this.options.settings.host);
    let started: OpencodeServerProcess | undefined;
    const common = {
      binary,
      hostname: "127.0.0.1",
      env,
      onExit: (code: number | null, signal: string | null) => {
        if (started) this.onProcessExit(started, code, signal);
      },
    };
    let proc: OpencodeServerProcess;
    try {
      // On the configured port when OPENCODE_HOST is this machine, so other tools find it there too.
      proc = await startOpencodeServer({ ...common, port: local ? this.options.settings.port : 0 });
    } catch (err) {
      if (!local) throw err;
      // That port may be taken by something that is not OpenCode: use a free one.
      proc = await startOpencodeServer({ ...common, port: 0 });
    }
    started = proc;
    if (this.shutDown) {
      // The server shut down while this one was booting (start-up runs in the background): nobody else will stop it.
      await proc.stop();
      throw new ServiceError("UNAVAILABLE", "The server is shutting down");
    }
    this.process = proc;
    this.mode = "managed";
    const client = new OpencodeClient(proc.url);
    this.version = (await client.health().catch(() => null))?.version ?? null;
    return this.attach(client);
  }

  /** Opens the event stream and resolves once OpenCode says it is connected. */
  private async attach(client: OpencodeClient): Promise<OpencodeClient> {
    const controller = new AbortController();
    this.pump = controller;
    await new Promise<void>((resolve, reject) => {
      let connected = false;
      void (async () => {
        let reason = "event stream ended";
        try {
          for await (const event of client.globalEvents(controller.signal)) {
            if (!connected) {
              connected = true;
              resolve();
            }
            try {
              this.options.onEvent(event);
            } catch (err) {
              // One odd event must not cost every run its stream.
              this.options.onEventError?.(event.payload.type, err);
            }
          }
        } catch (err) {
          reason = `event stream failed: ${(err as Error).message}`;
          if (!connected) reject(err);
        }
        if (controller.signal.aborted) return;
        if (!connected) reject(new Error(reason));
        this.onStreamLost(reason);
      })();
    });
    if (this.shutDown) {
      controller.abort();
      throw new ServiceError("UNAVAILABLE", "The server is shutting down");
    }
    this.client = client;
    this.lastError = null;
    this.state = "ready";
    return client;
  }

  private onStreamLost(reason: string): void {
    if (this.state === "stopped") return;
    this.lastError = reason;
    this.client = null;
    this.state = this.mode === "managed" ? "restarting" : "failed";
    this.options.onDisconnect(reason);
  }

  private onProcessExit(proc: OpencodeServerProcess, code: number | null, signal: string | null): void {
    if (this.state === "stopped" || this.process !== proc) return;
    this.lastError = `opencode serve exited (code ${code}, signal ${signal})`;
    this.process = null;
    this.pump?.abort();
    if (this.client) this.onStreamLost(this.lastError);
    this.restarts += 1;
    this.state = "restarting";
    const delay = Math.min(maxBackoffMs, 1000 * 2 ** Math.min(this.restarts - 1, 5));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state === "restarting") void this.ensure().catch(() => {});
    }, delay);
    this.restartTimer.unref();
  }

  async stop(): Promise<void> {
    this.shutDown = true;
    this.state = "stopped";
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.pump?.abort();
    const proc = this.process;
    this.process = null;
    await proc?.stop();
    // A start still in flight sees "stopped" and stops what it started; wait for that too.
    await this.connecting?.catch(() => {});
  }
}

/**
 * The inline configuration with OpenCode's own snapshots off, unless it sets them
 * itself: runs keep their changes in their worktree's git history instead.
 */
function withoutSnapshots(content: string | undefined): string {
  let config: Record<string, unknown> = {};
  try {
    const parsed = content ? JSON.parse(content) : {};
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) config = parsed as Record<string, unknown>;
  } catch {
    return content ?? "{}"; // not ours to fix: OpenCode will say what is wrong with it
  }
  return "snapshot" in config ? content! : JSON.stringify({ ...config, snapshot: false });
}
