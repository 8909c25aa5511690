/**
 * Runs one claimed task to its end with the same agent runner the server uses
 * for triggers: events go out through an outbox, the lease is kept alive by
 * heartbeats (which also carry cancellation), and the outcome is reported last,
 * after every event is acknowledged. Used by the server's local runner and by
 * `codetether-worker`; only the reporter differs.
 */

import type { AgentConfig } from "../contracts/agent-config.js";
import type { OcMessage } from "../opencode/client.js";
import { runLimits } from "../opencode/run-settings.js";
import type { AgentRunner, RunOutcome } from "../opencode/runner.js";
import type { Claim } from "../services/tasks/tasks.types.js";
import { type OpenedWorkspace, type WorkspaceRecorder, WorkspaceTracker } from "../workspace/workspace.js";
import { EventOutbox, type SendBatch } from "./outbox.js";
import { TranscriptSync } from "./transcript.js";

export class LeaseLostError extends Error {
  constructor() {
    super("lease lost");
    this.name = "LeaseLostError";
  }
}

export interface TaskReporter {
  /** Extends the lease; throws LeaseLostError when it is gone. */
  heartbeat(): Promise<{ cancel_requested: boolean }>;
  events: SendBatch;
  complete(outcome: { status: "completed" | "failed" | "cancelled"; error?: string; result?: string; session_id?: string }): Promise<void>;
  /** Hands the task back without counting the attempt. */
  release(reason: string): Promise<void>;
  /** Whether an error of `events` is the server refusing the batch for good (resending would never help). */
  refused(err: unknown): boolean;
  /**
   * Sends messages of the attempt's session to the server (a worker's sessions live
   * in its own OpenCode); absent where the server reads them itself (its local runner).
   */
  messages?(sessionId: string, messages: OcMessage[]): Promise<void>;
}

export interface ExecuteOptions {
  claim: Claim;
  /** Where the agent works on this machine: the attempt's worktree (see workspace.ts), or the codebase's directory. */
  workspace: OpenedWorkspace;
  /** Where the worktree and its diffs are recorded (with isolation). */
  recorder?: WorkspaceRecorder;
  /** Bytes of patch a diff keeps (the server's CODETETHER_DIFF_MAX_BYTES, given with the claim). */
  maxPatchBytes: number;
  runner: AgentRunner;
  reporter: TaskReporter;
  heartbeatMs: number;
  /** Aborting it hands the task back (shutdown past its drain time). */
  release?: AbortSignal;
  /** Aborting it cancels the task now, without waiting for the heartbeat to say so. */
  cancel?: AbortSignal;
  log?: (message: string) => void;
  /** Reads the session's messages from this runner's OpenCode, for `reporter.messages`. */
  readMessages?: (sessionId: string) => Promise<OcMessage[]>;
  /** How often the transcript is sent while the agent runs (default 10 s); it is always sent once more before completing. */
  transcriptMs?: number;
}

const resultLength = 4000;
const defaultTranscriptMs = 10_000;

export async function executeTask(options: ExecuteOptions): Promise<"completed" | "failed" | "cancelled" | "released" | "lost"> {
  const { claim, runner, reporter, workspace } = options;
  const directory = workspace.directory;
  const worktree = workspace.isolation === "worktree" ? workspace.worktree : undefined;
  let tracker: WorkspaceTracker | undefined;
  const log = options.log ?? (() => {});
  const config = claim.codebase.agent_config as AgentConfig;
  const outbox = new EventOutbox(
    reporter.events,
    (err) => log(`event upload failed${reporter.refused(err) ? ", refused" : ", will retry"}: ${(err as Error).message}`),
    (err) => reporter.refused(err),
  );
  let output = "";
  let sessionId: string | undefined;
  let cancelRequested = false;
  let lost = false;
  let transcript: TranscriptSync | undefined;
  const { readMessages } = options;
  const uploadMessages = reporter.messages?.bind(reporter);
  const syncTranscript = () => transcript?.sync().catch((err) => log(`transcript upload failed, will retry: ${(err as Error).message}`)) ?? Promise.resolve();
  const transcriptTimer = setInterval(() => void syncTranscript(), options.transcriptMs ?? defaultTranscriptMs);
  let finish!: (o: { status: RunOutcome; error?: string }) => void;
  const finished = new Promise<{ status: RunOutcome; error?: string }>((resolve) => (finish = resolve));

  const cancel = () => {
    if (cancelRequested || !sessionId) return;
    cancelRequested = true;
    log(`task ${claim.task.id} cancelled: aborting session ${sessionId}`);
    void runner.abort(sessionId, directory).catch(() => {});
  };
  options.cancel?.addEventListener("abort", cancel, { once: true });
  const heartbeat = setInterval(() => {
    reporter
      .heartbeat()
      .then(({ cancel_requested }) => {
        if (cancel_requested) cancel();
      })
      .catch((err) => {
        if (!(err instanceof LeaseLostError) || lost) return;
        lost = true;
        outbox.close();
        log(`task ${claim.task.id}: lease lost, stopping`);
        if (sessionId) void runner.abort(sessionId, directory).catch(() => {});
        finish({ status: "aborted", error: "lease lost" });
      });
  }, options.heartbeatMs);

  try {
    try {
      const started = await runner.start(
        {
          directory,
          title: claim.task.title,
          agent: claim.task.agent_type,
          model: claim.task.model ?? undefined,
          prompt: claim.task.prompt,
          // The claim's agent_config carries the budget in force already (the server's cap included).
          ...runLimits(config),
        },
        async (id) => {
          sessionId = id;
          if (worktree && options.recorder) {
            await options.recorder.opened(worktree, id);
            tracker = new WorkspaceTracker({
              worktree,
              ready: workspace.isolation === "worktree" ? workspace.ready : undefined,
              sessionId: id,
              maxPatchBytes: options.maxPatchBytes,
              recorder: options.recorder,
              push: (e) => outbox.push(e),
              flushed: () => outbox.drain(),
              log: (message, err) => log(`${message}${err ? `: ${(err as Error).message}` : ""}`),
            });
          }
          if (readMessages && uploadMessages) {
            transcript = new TranscriptSync(
              () => readMessages(id),
              (list) => uploadMessages(id, list),
              log,
            );
          }
          return {
            event: (e) => {
              if (e.type === "output") output = (output + e.data.content).slice(-resultLength);
              tracker?.observe(e);
              outbox.push(e);
            },
            finished: finish,
          };
        },
      );
      sessionId = started.sessionId;
      if (options.cancel?.aborted) cancel();
    } catch (err) {
      finish({ status: "failed", error: `Could not start the agent: ${(err as Error).message}` });
    }

    const onRelease = () => finish({ status: "aborted", error: "released" });
    options.release?.addEventListener("abort", onRelease, { once: true });
    const outcome = await finished;
    options.release?.removeEventListener("abort", onRelease);
    if (lost) return "lost";
    // The attempt's changes are committed and their diff recorded before it reports how it ended.
    if (outcome.error === "released" && sessionId) await runner.abort(sessionId, directory).catch(() => {});
    await tracker?.endTurn();
    if (outcome.error === "released") {
      await outbox.drain();
      await reporter.release("runner shutting down");
      return "released";
    }
    await outbox.drain();
    // The whole transcript is on the server before the task says it is done (best effort: the outcome matters more).
    clearInterval(transcriptTimer);
    await syncTranscript();
    let status: "completed" | "failed" | "cancelled" = outcome.status === "completed" ? "completed" : cancelRequested ? "cancelled" : "failed";
    let error = outcome.error;
    if (outbox.refused > 0 && status === "completed") {
      // Never completed with holes in its history.
      status = "failed";
      error = `${outbox.refused} event(s) of this run were refused by the server: ${outbox.refusal}`;
    }
    await reporter.complete({
      status,
      ...(error ? { error } : {}),
      ...(output ? { result: output } : {}),
      ...(sessionId ? { session_id: sessionId } : {}),
    });
    return status;
  } catch (err) {
    if (err instanceof LeaseLostError) return "lost";
    throw err;
  } finally {
    clearInterval(heartbeat);
    clearInterval(transcriptTimer);
    options.cancel?.removeEventListener("abort", cancel);
  }
}
