/**
 * The OpenCode bridge of one process (the server's, or a worker's): its
 * connection to `opencode serve`, the runner on top, and the models it can run.
 */
import type { OpencodeSettings } from "../config.js";
import type { OpencodeClient } from "../opencode/client.js";
import { OpencodeConnection } from "../opencode/connection.js";
import { ModelCache } from "../opencode/model-cache.js";
import { AgentRunner } from "../opencode/runner.js";

export class Bridge {
  readonly runner: AgentRunner;
  readonly connection: OpencodeConnection;
  readonly models: ModelCache;
  private restarting: Promise<void> | null = null;

  /** `env` is the environment a managed `opencode serve` gets (tests isolate it). */
  constructor(settings: OpencodeSettings, env?: NodeJS.ProcessEnv) {
    this.runner = new AgentRunner(() => this.client(), {
      beforeStart: () => this.applyConfigChange(),
      onIdle: () => void this.applyConfigChange().catch(() => {}),
    });
    this.connection = new OpencodeConnection({
      settings,
      env,
      onEvent: (event) => this.runner.handle(event),
      onDisconnect: (reason) => this.runner.failAll(`OpenCode connection lost: ${reason}`),
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
    if (this.restarting) return this.restarting;
    if (!this.connection.configChanged() || this.runner.busy()) return Promise.resolve();
    this.models.invalidate();
    this.restarting = this.connection
      .restart()
      .then(() => undefined)
      .finally(() => {
        this.restarting = null;
      });
    return this.restarting;
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
