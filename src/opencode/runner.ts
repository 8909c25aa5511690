/**
 * Runs agents on an OpenCode server and reports what they do to a sink, in
 * order. The server and `codetether-worker` both use it; only their sinks differ
 * (the event log here, an upload buffer on a worker).
 */

import { notFound, ServiceError } from "../contracts/errors.js";
import type { EventData, NewEvent } from "../contracts/events.js";
import type { OcGlobalEvent, OpencodeClient, PermissionReply } from "./client.js";
import { RunTranslator } from "./translate.js";

export type RunOutcome = EventData<"complete">["status"];

export interface RunSink {
  /**
   * What the caller records of the run's start (its session's row), done while the prompt is sent rather than
   * before: OpenCode is already working meanwhile. Should it fail, the run is aborted and the start fails with it.
   */
  recording?: Promise<void>;
  /** Called in the order things happened; must not block (queue the work). */
  event(event: NewEvent): void;
  /** Called once when the run ends, after its last event; a returned promise is awaited by `settled()`. */
  finished(outcome: { status: RunOutcome; error?: string }): void | Promise<void>;
}

export interface RunSpec {
  directory: string;
  /** Resume this OpenCode session; otherwise a new one is created. */
  sessionId?: string;
  /** A new session made for this run ahead of its start (`AgentRunner.createSession`), used instead of making one. */
  createdSessionId?: string;
  title: string;
  agent: string;
  /** `provider/model`; OpenCode's default when absent. */
  model?: string;
  prompt: string;
  autoApprove: boolean;
  permissionTimeoutMs: number;
  maxIterations?: number;
  /** US dollars the run may cost; it is stopped (failed, `BudgetExceeded`) once its steps cost more. */
  maxCostUsd?: number;
  /** The trigger's id for this run, carried by its first `status` event (so a client that has no session id yet can find it). */
  runId?: string;
  /** How long the provider may keep failing (OpenCode retrying) before the run fails (`runLimits` gives the default). */
  maxRetrySeconds: number;
}

interface Run {
  spec: RunSpec;
  sink: RunSink;
  translator: RunTranslator;
  permissions: Map<string, NodeJS.Timeout>;
  done: boolean;
  /** We asked OpenCode to stop it (abort, max_iterations, retry window): it must not end "completed". */
  stopping: boolean;
  /** Fires when the provider has been failing for longer than the run's retry window. */
  retryTimer: NodeJS.Timeout | null;
  /** Why we stopped it (max_iterations, retry window): it ends failed with this, whatever OpenCode says. */
  failure: string | null;
}

export interface RunnerHooks {
  /** Before a run starts (the bridge applies a changed provider configuration there). */
  beforeStart?: () => Promise<unknown>;
  /** The last run in flight has ended. */
  onIdle?: () => void;
}

/** Where an OpenCode event says which session it is about. */
function sessionOf(props: Record<string, unknown>): string | undefined {
  const direct = props.sessionID;
  if (typeof direct === "string") return direct;
  const nested = (props.info ?? props.part) as { sessionID?: unknown } | undefined;
  return typeof nested?.sessionID === "string" ? nested.sessionID : undefined;
}

function parseModel(model: string): { providerID: string; modelID: string } {
  const slash = model.indexOf("/");
  return { providerID: model.slice(0, slash), modelID: model.slice(slash + 1) };
}

export class AgentRunner {
  private readonly runs = new Map<string, Run>();
  /**
   * Sessions between "start requested" (or made ahead of their run's start) and "run registered", so two triggers
   * cannot both resume one, and a sync does not import a session whose run is about to record it.
   */
  private readonly starting = new Set<string>();
  /** message id → session id, for events that only name their message. */
  private readonly messageSessions = new Map<string, string>();
  /** Sinks still recording how their run ended. */
  private readonly finishing = new Set<Promise<void>>();

  /** Starts between their first call and their run being registered (or failing). */
  private startsInFlight = 0;
  /** Directories runs have worked in, so OpenCode can be told to forget them when they are removed. */
  private readonly directories = new Set<string>();

  constructor(
    private readonly connect: () => Promise<OpencodeClient>,
    private readonly hooks: RunnerHooks = {},
  ) {}

  isRunning(sessionId: string): boolean {
    return this.runs.has(sessionId) || this.starting.has(sessionId);
  }

  /** Some run is in flight or starting. */
  busy(): boolean {
    return this.runs.size > 0 || this.startsInFlight > 0;
  }

  /**
   * Creates or resumes the session, lets the caller `prepare` its sink, registers
   * the run before prompting (so no event is missed), and sends the prompt.
   * Resolves once OpenCode accepted it.
   */
  async start(spec: RunSpec, prepare: (sessionId: string, created: boolean) => Promise<RunSink>): Promise<{ sessionId: string; created: boolean }> {
    if (spec.sessionId) {
      if (this.isRunning(spec.sessionId)) throw new ServiceError("CONFLICT", "Session is busy: abort it first or start a new session");
      this.starting.add(spec.sessionId);
    }
    try {
      await this.hooks.beforeStart?.();
      this.startsInFlight += 1;
      try {
        return await this.startRun(spec, prepare);
      } finally {
        this.startsInFlight -= 1;
      }
    } finally {
      const held = spec.sessionId ?? spec.createdSessionId;
      if (held) this.starting.delete(held);
    }
  }

  /**
   * Makes a new session for a run whose start is still being decided (the trigger's checks), so OpenCode's part
   * overlaps ours. The caller passes it to `start` as `createdSessionId`, or gives it up with `discardSession`.
   */
  async createSession(directory: string, title: string): Promise<string> {
    await this.hooks.beforeStart?.();
    const client = await this.connect();
    this.directories.add(directory);
    const id = await this.newSession(client, directory, title);
    this.starting.add(id);
    return id;
  }

  /** Deletes a session made by `createSession` for a run that did not start. */
  async discardSession(directory: string, id: string): Promise<void> {
    try {
      const client = await this.connect();
      await client.deleteSession(directory, id);
    } finally {
      this.starting.delete(id);
    }
  }

  private async newSession(client: OpencodeClient, directory: string, title: string): Promise<string> {
    const session = await client.createSession(directory, {
      title,
      // As `opencode run` does: a headless run must never wait on a question.
      permission: ["question", "plan_enter", "plan_exit"].map((permission) => ({ permission, pattern: "*", action: "deny" as const })),
    });
    return session.id;
  }

  private async startRun(spec: RunSpec, prepare: (sessionId: string, created: boolean) => Promise<RunSink>): Promise<{ sessionId: string; created: boolean }> {
    const client = await this.connect();
    this.directories.add(spec.directory);
    let sessionId = spec.sessionId;
    const created = !sessionId;
    if (sessionId) {
      if (!(await client.getSession(spec.directory, sessionId))) throw notFound("Session");
    } else {
      sessionId = spec.createdSessionId ?? (await this.newSession(client, spec.directory, spec.title));
    }
    const run: Run = {
      spec,
      sink: await prepare(sessionId, created),
      translator: new RunTranslator(sessionId, spec.directory),
      permissions: new Map(),
      done: false,
      stopping: false,
      retryTimer: null,
      failure: null,
    };
    this.runs.set(sessionId, run);
    run.sink.event({
      type: "status",
      data: {
        session_id: sessionId,
        status: "running",
        agent: spec.agent,
        ...(spec.model ? { model: spec.model } : {}),
        ...(spec.runId ? { run_id: spec.runId } : {}),
      },
    });
    const [prompted, recorded] = await Promise.allSettled([
      client.promptAsync(spec.directory, sessionId, {
        agent: spec.agent,
        ...(spec.model ? { model: parseModel(spec.model) } : {}),
        text: spec.prompt,
      }),
      run.sink.recording,
    ]);
    if (prompted.status === "rejected") {
      const err = prompted.reason as Error;
      this.finish(run, "failed", `OpenCode refused the prompt: ${err.message}`);
      throw new ServiceError("UNAVAILABLE", `OpenCode refused the prompt: ${err.message}`, { cause: err });
    }
    if (recorded.status === "rejected") {
      // Not on record, so not to be run: stopped before it does more than its first step. The reason is set before
      // the abort is asked for: OpenCode may report the abort (idle) before the abort call returns, and the run must
      // end failed with why, not aborted.
      run.stopping = true;
      run.failure = `The run's start could not be recorded: ${(recorded.reason as Error).message}`;
      await client.abort(spec.directory, sessionId).catch(() => {});
      this.finish(run, "failed", run.failure);
      throw recorded.reason;
    }
    return { sessionId, created };
  }

  /**
   * Asks OpenCode to stop the session; the run then completes as aborted. OpenCode
   * is asked in the run's own directory (its worktree), else in `directory`.
   */
  async abort(sessionId: string, directory: string): Promise<void> {
    const run = this.runs.get(sessionId);
    if (run) run.stopping = true;
    const client = await this.connect();
    await client.abort(run?.spec.directory ?? directory, sessionId);
  }

  async answerPermission(sessionId: string, permissionId: string, reply: PermissionReply): Promise<void> {
    const run = this.runs.get(sessionId);
    const timer = run?.permissions.get(permissionId);
    if (!run || !timer) throw notFound("Permission request");
    clearTimeout(timer);
    run.permissions.delete(permissionId);
    const client = await this.connect();
    await client.replyPermission(run.spec.directory, permissionId, reply);
    this.emitPermission(run, permissionId, reply === "reject" ? "rejected" : "approved", { reply });
  }

  /**
   * A directory (a run's worktree) is gone: OpenCode forgets it and every directory
   * under it that runs worked in, so its per-directory state does not pile up.
   */
  async forgetDirectory(root: string): Promise<void> {
    const under = [...this.directories].filter((d) => d === root || d.startsWith(`${root}/`));
    for (const d of under) this.directories.delete(d);
    if (under.length === 0) under.push(root);
    const client = await this.connect();
    await Promise.allSettled(under.map((d) => client.disposeInstance(d)));
  }

  /** Feed for the connection's event stream. */
  handle(event: OcGlobalEvent): void {
    const { type, properties } = event.payload;
    if (type === "message.updated") {
      const info = properties.info as { id: string; sessionID: string };
      this.messageSessions.set(info.id, info.sessionID);
    }
    let sessionId = sessionOf(properties);
    if (!sessionId && typeof properties.messageID === "string") sessionId = this.messageSessions.get(properties.messageID);
    const run = sessionId ? this.runs.get(sessionId) : undefined;
    if (!run || run.done) return;

    if (type === "permission.asked") {
      this.onPermissionAsked(run, properties);
      return;
    }
    if (type === "permission.replied") {
      const id = String(properties.requestID ?? properties.permissionID ?? properties.id);
      const timer = run.permissions.get(id);
      if (timer) {
        clearTimeout(timer);
        run.permissions.delete(id);
      }
      return;
    }
    for (const e of run.translator.translate(type, properties)) run.sink.event(e);
    this.watchRetries(run);

    const limit = run.spec.maxIterations;
    if (limit && run.translator.steps > limit && !run.stopping) {
      this.stopWithError(run, "MaxIterations", `Stopped after max_iterations (${limit}) model steps`);
    }
    const budget = run.spec.maxCostUsd;
    if (budget !== undefined && run.translator.cost > budget && !run.stopping) {
      this.stopWithError(
        run,
        "BudgetExceeded",
        `Stopped: the run cost $${run.translator.cost.toPrecision(4)}, more than its budget of $${budget} (max_cost_usd)`,
      );
    }
    if (type === "session.idle") {
      const { errorName, errorMessage } = run.translator;
      if (run.failure) this.finish(run, "failed", run.failure);
      else if (errorName === "MessageAbortedError") this.finish(run, "aborted", "Aborted");
      else if (errorName) this.finish(run, "failed", errorMessage);
      // Stopped on request while no step was running (e.g. between provider retries): OpenCode reports no error then.
      else if (run.stopping) this.finish(run, "aborted", "Aborted");
      else this.finish(run, "completed");
    }
  }

  /** Starts (or clears) the run's retry window as the provider fails (or answers again). */
  private watchRetries(run: Run): void {
    const retrying = run.translator.retrying;
    if (!retrying) {
      if (run.retryTimer) clearTimeout(run.retryTimer);
      run.retryTimer = null;
      return;
    }
    if (run.retryTimer || run.stopping) return;
    const windowMs = run.spec.maxRetrySeconds * 1000;
    run.retryTimer = setTimeout(
      () => {
        run.retryTimer = null;
        const still = run.translator.retrying;
        if (run.done || run.stopping || !still) return;
        const seconds = Math.round((Date.now() - still.since) / 1000);
        this.stopWithError(run, "ProviderUnavailable", `The model provider kept failing for ${seconds} s (max_retry_seconds): ${still.message}`);
      },
      Math.max(0, retrying.since + windowMs - Date.now()),
    );
    run.retryTimer.unref();
  }

  /** Records why the run is being stopped, then asks OpenCode to stop it; it ends failed at idle. */
  private stopWithError(run: Run, name: string, message: string): void {
    run.stopping = true;
    run.failure = message;
    const sessionId = run.translator.sessionId;
    run.sink.event({ type: "error", data: { session_id: sessionId, name, message } });
    void this.connect()
      .then((c) => c.abort(run.spec.directory, sessionId))
      .catch(() => {});
  }

  /** OpenCode went away: every run in flight fails now instead of hanging. */
  failAll(reason: string): void {
    for (const run of [...this.runs.values()]) {
      run.sink.event({ type: "error", data: { session_id: run.translator.sessionId, name: "OpencodeUnavailable", message: reason } });
      this.finish(run, "failed", reason);
    }
  }

  /**
   * The process is shutting down: ends every run as aborted with the reason (before
   * OpenCode can report the abort as its own), asks OpenCode to stop them so an
   * external OpenCode does not go on unobserved, and resolves once their sinks
   * have recorded it.
   */
  async stopAll(reason: string): Promise<void> {
    const runs = [...this.runs.values()];
    for (const run of runs) {
      run.sink.event({ type: "error", data: { session_id: run.translator.sessionId, name: "ServerShutdown", message: reason } });
      this.finish(run, "aborted", reason);
    }
    const abort = async (run: Run) => {
      const client = await this.connect();
      await client.abort(run.spec.directory, run.translator.sessionId);
    };
    // Best effort and bounded: a stuck OpenCode must not hold up the shutdown.
    const bounded = (run: Run) => Promise.race([abort(run), new Promise((r) => setTimeout(r, 2000).unref())]);
    await Promise.allSettled(runs.map(bounded));
    await this.settled();
  }

  /** Resolves once every sink that was told its run ended has finished recording it. */
  async settled(): Promise<void> {
    while (this.finishing.size > 0) await Promise.allSettled([...this.finishing]);
  }

  private onPermissionAsked(run: Run, props: Record<string, unknown>): void {
    const id = String(props.id);
    const permission = String(props.permission ?? "unknown");
    const patterns = Array.isArray(props.patterns) ? props.patterns.map(String) : [];
    const reply = (r: PermissionReply, message?: string) =>
      this.connect()
        .then((c) => c.replyPermission(run.spec.directory, id, r, message))
        .catch(() => {});
    if (run.spec.autoApprove) {
      // Even with auto_approve, reaching outside the codebase stays forbidden.
      if (permission === "external_directory") {
        this.emitPermission(run, id, "rejected", { permission, patterns, reply: "reject" });
        void reply("reject", "CodeTether does not allow access outside the codebase");
      } else {
        this.emitPermission(run, id, "approved", { permission, patterns, reply: "once" });
        void reply("once");
      }
      return;
    }
    const timeoutSeconds = Math.round(run.spec.permissionTimeoutMs / 1000);
    run.permissions.set(
      id,
      setTimeout(() => {
        run.permissions.delete(id);
        this.emitPermission(run, id, "timed_out", { permission, patterns, reply: "reject" });
        void reply("reject", `No answer within ${timeoutSeconds} s`);
      }, run.spec.permissionTimeoutMs),
    );
    this.emitPermission(run, id, "asked", { permission, patterns, timeout_seconds: timeoutSeconds });
  }

  private emitPermission(
    run: Run,
    id: string,
    state: EventData<"permission">["state"],
    extra: { permission?: string; patterns?: string[]; reply?: string; timeout_seconds?: number },
  ): void {
    run.sink.event({
      type: "permission",
      data: {
        session_id: run.translator.sessionId,
        permission_id: id,
        permission: extra.permission ?? "",
        patterns: extra.patterns ?? [],
        state,
        ...(extra.reply ? { reply: extra.reply } : {}),
        ...(extra.timeout_seconds ? { timeout_seconds: extra.timeout_seconds } : {}),
      },
    });
  }

  private finish(run: Run, status: RunOutcome, error?: string): void {
    if (run.done) return;
    run.done = true;
    for (const timer of run.permissions.values()) clearTimeout(timer);
    if (run.retryTimer) clearTimeout(run.retryTimer);
    this.runs.delete(run.translator.sessionId);
    if (!this.busy()) this.hooks.onIdle?.();
    const recording = run.sink.finished({ status, ...(error ? { error } : {}) });
    if (recording !== undefined) {
      const tracked = recording.catch(() => {}).finally(() => this.finishing.delete(tracked));
      this.finishing.add(tracked);
    }
  }
}
