/**
 * The OpenCode bridge of one process (the server's, or a worker's): its
 * connection to `opencode serve`, the runner on top, and the models it can run.
 */
import type { OpencodeSettings } from "../config.js";
import type { Logger } from "../observability/log.js";
import type { OpencodeClient } from "./client.js";
import { OpencodeConnection } from "./connection.js";
import { ModelCache } from "./model-cache.js";
import { AgentRunner } from "./runner.js";

export class Bridge {
  readonly runner: AgentRunner;
  readonly connection: OpencodeConnection;
  readonly models: ModelCache;
  private restarting: Promise<void> | null = null;
  private readonly restartListeners = new Set<() => void>();

  /** `env` is the environment a managed `opencode serve` gets (tests isolate it). */
  constructor(
    settings: OpencodeSettings,
    env?: NodeJS.ProcessEnv,
    private readonly log?: Logger,
  ) {
    this.runner = new AgentRunner(() => this.client(), {
      beforeStart: () => this.applyConfigChange(),
      onIdle: () => void this.applyConfigChange().catch(() => {}),
    });
    this.connection = new OpencodeConnection({
      settings,
      env,
      onEvent: (event) => this.runner.handle(event),
      onDisconnect: (reason) => this.runner.failAll(`OpenCode connection lost: ${reason}`),
      onNotice: (message) => log?.warn({ opencode: "notice" }, message),
      onEventError: (type, err) => log?.error({ err, opencode_event: type }, "handling an OpenCode event failed"),
      onStateChange: ({ state, previous, mode, restarts, error }) => {
        const fields = { opencode: state, previous, mode, restarts, error: error ?? undefined, url: this.connection.status().url ?? undefined };
        if (state === "ready") log?.info(fields, mode === "managed" ? "OpenCode started" : "OpenCode connected");
        else if (state === "restarting") {
          for (const listener of this.restartListeners) listener();
          log?.warn(fields, "OpenCode restarting");
        } else if (state === "failed") log?.error(fields, "OpenCode unavailable");
        else if (state === "stopped") log?.info(fields, "OpenCode stopped");
        else log?.debug(fields, `OpenCode ${state}`);
      },
    });
    this.models = new ModelCache(() => this.applyConfigChange().then(() => this.client()));
  }

  /** A live client; waits out a configuration restart in progress rather than race it. */
  async client(): Promise<OpencodeClient> {
    await this.restarting;
    return this.connection.ensure();
  }

  /** Connects to (or starts) OpenCode now, so the first run does not wait for it. */
  warmUp(): void {
    void this.connection
      .ensure()
      .then(() => this.models.get())
      .catch(() => {});
  }

  /**
   * A managed OpenCode whose provider config file was edited is restarted, so
   * the next run uses the new providers; only while no run is in flight (the
   * last run's end applies it otherwise).
   */
  private applyConfigChange(): Promise<void> {
    if (this.restarting !== null) return this.restarting;
    if (!this.connection.configChanged() || this.runner.busy()) return Promise.resolve();
    this.models.invalidate();
    for (const listener of this.restartListeners) listener();
    this.log?.info({ config: "changed" }, "OpenCode restarting to apply the edited provider configuration");
    this.restarting = this.connection
      .restart()
      .then(() => undefined)
      .finally(() => {
        this.restarting = null;
      });
    return this.restarting;
  }

  /**
   * Hooks for a process's worktrees: OpenCode serves a prepared one at once (its
   * first request for a directory costs tens of ms), and forgets a removed one.
   * Best effort, and never starts OpenCode for it.
   */
  worktreeHooks(): { prepared: (dir: string) => void; removed: (dir: string) => void } {
    const ready = () => this.connection.status().state === "ready";
    return {
      prepared: (dir) => {
        if (ready())
          void this.client().then(
            (c) => c.listSessions(dir).catch(() => {}),
            () => {},
          );
      },
      removed: (dir) => {
        if (ready()) void this.runner.forgetDirectory(dir).catch(() => {});
      },
    };
  }

  /** Calls `listener` each time the managed OpenCode restarts (metrics). */
  onRestart(listener: () => void): void {
    this.restartListeners.add(listener);
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
