/** The OpenCode bridge of one server process: its connection to `opencode serve` and the runner on top. */
import type { OpencodeSettings } from "../config.js";
import { OpencodeConnection } from "../opencode/connection.js";
import { AgentRunner } from "../opencode/runner.js";

export class Bridge {
  readonly runner: AgentRunner;
  readonly connection: OpencodeConnection;

  /** `env` is the environment a managed `opencode serve` gets (tests isolate it). */
  constructor(settings: OpencodeSettings, env?: NodeJS.ProcessEnv) {
    this.runner = new AgentRunner(() => this.connection.ensure());
    this.connection = new OpencodeConnection({
      settings,
      env,
      onEvent: (event) => this.runner.handle(event),
      onDisconnect: (reason) => this.runner.failAll(`OpenCode connection lost: ${reason}`),
    });
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
