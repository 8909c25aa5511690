/**
 * Triggering an agent on a codebase: the checks (codebase, directory, model, the session to resume, a run slot)
 * made together while OpenCode creates the session, the workspace (a worktree of its own, or the codebase's
 * directory), the prompt, and the sink that stores the run's events and records how it ended. A prompt for a
 * session that is running is queued as its next turn instead (`queue: true`, see follow-ups.ts).
 */
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { and, desc, eq, inArray } from "drizzle-orm";
import { asServiceError, conflict, invalid } from "../../contracts/errors.js";
import type { NewEvent } from "../../contracts/events.js";
import { defaultAgent } from "../../contracts/fields.js";
import { sessions } from "../../db/schema.js";
import { runLimits, workingDirectory } from "../../opencode/run-settings.js";
import type { RunOutcome, RunSink } from "../../opencode/runner.js";
import { abandonWorkspace, type OpenedWorkspace, WorkspaceTracker, type WorktreeInfo } from "../../workspace/workspace.js";
import { auditing } from "../access/audit.js";
import { createdBy } from "../access/scope.js";
import { getCodebaseRow } from "../codebases/codebases.js";
import { realInside } from "../codebases/paths.js";
import type { ServiceContext } from "../context.js";
import { requireRunnable } from "../models/models.js";
import { untilDatabaseAnswers } from "../outage.js";
import { localRecorder, openLocalWorkspace } from "../worktrees/local.js";
import { queueFollowUp, shouldQueue, startNextFollowUp } from "./follow-ups.js";
import { requireRunSlot } from "./in-flight.js";
import { RunOutbox } from "./run-outbox.js";
import { getSessionRow, storeMessages } from "./session-store.js";
import type { TriggerAnswer, TriggerRequest, TriggerResponse } from "./sessions.types.js";

/**
 * Writes a run's events to the codebase's stream and records how it ended, unless
 * this process no longer owns the run (it was declared lost meanwhile, see
 * run-liveness.ts): then its end was already recorded and must not be twice.
 */
function logSink(
  ctx: ServiceContext,
  codebaseId: string,
  sessionId: string,
  runId: string,
  directory: string,
  recording: Promise<void>,
  workspace?: { worktree: WorktreeInfo; ready: Promise<void> },
): RunSink {
  const outbox = new RunOutbox(
    (events) => ctx.events.append(codebaseId, events),
    ctx.config.runBufferBytes,
    ctx.shutdown,
    (message, err) => ctx.log.error({ codebase_id: codebaseId, session_id: sessionId, err }, message),
  );
  const tracker =
    workspace &&
    new WorkspaceTracker({
      worktree: workspace.worktree,
      ready: workspace.ready,
      sessionId,
      maxPatchBytes: ctx.config.worktrees.diffMaxBytes,
      recorder: localRecorder({ ctx, codebaseId, taskId: null }),
      push: (e) => outbox.push(e),
      flushed: () => outbox.flushed(),
      log: (message, err) => ctx.log.warn({ codebase_id: codebaseId, session_id: sessionId, err }, message),
    });
  const owned = and(eq(sessions.id, sessionId), eq(sessions.runOwner, ctx.instanceId));
  const ended = { runOwner: null, runHeartbeatAt: null, updatedAt: new Date() };
  return {
    recording,
    event(e) {
      tracker?.observe(e);
      outbox.push(e);
    },
    finished(outcome) {
      return (async () => {
        // The turn's changes are committed and their diff stored before the run says it ended.
        await tracker?.endTurn();
        await outbox.flushed();
        let { status, error } = outcome;
        if (
          !(await recording.then(
            () => true,
            () => false,
          ))
        ) {
          // The session's row was never written (the start failed): its end is only told to the stream.
          const complete: NewEvent = { type: "complete", data: { session_id: sessionId, status, run_id: runId, ...(error ? { error } : {}) } };
          await untilDatabaseAnswers(() => ctx.events.append(codebaseId, [complete]), { signal: ctx.shutdown });
          return;
        }
        if (outbox.lost > 0) {
          // Never "completed" with holes in the stream: say what was lost.
          status = "failed";
          error = `${outbox.lost} event(s) of this run were lost: the database was unavailable for longer than the run's event buffer (CODETETHER_RUN_BUFFER_BYTES) lasts`;
          outbox.push({ type: "error", data: { session_id: sessionId, name: "EventsLost", message: error } });
          await outbox.flushed();
        }
        // During a shutdown an outage is not waited out: the next start marks the run lost instead.
        const recorded = await untilDatabaseAnswers(() => recordEnd(status, error), { signal: ctx.shutdown });
        if (recorded) {
          const complete: NewEvent = { type: "complete", data: { session_id: sessionId, status, run_id: runId, ...(error ? { error } : {}) } };
          await untilDatabaseAnswers(() => ctx.events.append(codebaseId, [complete]), { signal: ctx.shutdown });
          // The next queued follow-up, if any, is this session's next turn (an abort cancelled them, or a shutdown leaves them for the next start).
          if (status !== "aborted") await startNextFollowUp(ctx, sessionId, triggerAgent);
        }
      })().catch((err) => ctx.log.error({ codebase_id: codebaseId, session_id: sessionId, err }, "finishing a run failed"));
    },
  };

  /** Records the outcome if this process still owns the run; true when it did. */
  async function recordEnd(status: RunOutcome, error: string | undefined): Promise<boolean> {
    let recorded: { id: string }[];
    try {
      const client = await ctx.bridge.connection.ensure();
      const list = await client.messages(directory, sessionId);
      recorded = await ctx.database.db.transaction(async (tx) => {
        const rows = await tx
          .update(sessions)
          .set({ ...ended, status, error: error ?? null, messageCount: list.length })
          .where(owned)
          .returning({ id: sessions.id });
        if (rows.length > 0) await storeMessages(tx, sessionId, list);
        return rows;
      });
    } catch {
      // OpenCode is gone (that may be why the run failed): keep the outcome without messages.
      recorded = await ctx.database.db
        .update(sessions)
        .set({ ...ended, status, error: error ?? null })
        .where(owned)
        .returning({ id: sessions.id });
    }
    return recorded.length > 0;
  }
}

/** The session a trigger without `session_id` resumes: the newest one of ours that did not fail. */
async function resumableSession(ctx: ServiceContext, codebaseId: string) {
  const [row] = await ctx.database.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.codebaseId, codebaseId), eq(sessions.source, "codetether"), inArray(sessions.status, ["idle", "running", "completed"])))
    .orderBy(desc(sessions.updatedAt))
    .limit(1);
  return row;
}

/**
 * Runs an agent on the codebase now, or (with `queue: true`, when the session to resume is running) queues the
 * prompt as its next turn. `runId` is a queued prompt's own, given when it starts.
 */
export async function triggerAgent({
  ctx,
  codebaseId,
  input,
  runId = randomUUID(),
}: {
  ctx: ServiceContext;
  codebaseId: string;
  input: TriggerRequest;
  runId?: string;
}): Promise<TriggerAnswer> {
  // The head is read before the run stores anything, so a client following from it sees the run from its start. It
  // needs only the id, so it is read beside the codebase's row (and a read for a codebase that is not there is harmless).
  const head = ctx.events.head(codebaseId);
  head.catch(() => {}); // observed below, unless the codebase's row already failed
  const codebase = await getCodebaseRow({ ctx, id: codebaseId });
  if (codebase.workerId) {
    throw conflict(`Codebase "${codebase.name}" runs on worker ${codebase.workerId}: create a task for it instead`);
  }
  const config = codebase.agentConfig;
  const agent = input.agent ?? config.default_agent ?? defaultAgent;
  const model = input.model ?? config.default_model;
  const directory = workingDirectory(codebase);
  // While OpenCode boots, what it can run is not known yet: the run itself will say if the model is missing.
  const booting = ["starting", "connecting", "restarting"].includes(ctx.bridge.connection.status().state);
  const where = { codebase, directory, title: titleOf(input), baseRef: input.base_ref };
  // A new session's workspace depends on nothing the checks find, so it is opened while they run (and given up if
  // one refuses the run) when that is quick: its directory, or a worktree ready in the pool (a `git worktree add`
  // waits for the checks, as a refused run would otherwise wait for it). A resumed session's is the one it worked
  // in, known once the session is.
  const fresh = input.new_session && !input.session_id;
  const early = fresh ? openLocalWorkspace({ ctx, ...where, onlyIfPooled: true }) : undefined;
  early?.catch(() => {}); // observed below, or given up
  // So is OpenCode's session in it: OpenCode makes it while our checks run (not while it boots: the run waits then).
  const sessionAhead =
    early && !booting
      ? early.then(async (w) => (w ? { directory: w.directory, id: await ctx.bridge.runner.createSession(w.directory, where.title) } : null))
      : undefined;
  sessionAhead?.catch(() => {}); // observed below, or given up
  // A worktree made, or a session created, for a run that may not start (or never did) is not kept.
  const letGo = (opening: Promise<OpenedWorkspace | null> | undefined) =>
    Promise.allSettled([
      opening?.then((w) => w && abandonWorkspace(ctx.worktrees, w)),
      sessionAhead?.then((s) => s && ctx.bridge.runner.discardSession(s.directory, s.id)),
    ]);
  const giveUp = (opening: Promise<OpenedWorkspace | null> | undefined) => async (err: unknown) => {
    await letGo(opening);
    throw err;
  };
  // Independent of one another, so looked at together; a failure is reported as if they were looked at in turn.
  const [, , resume] = await firstFailure(
    requireDirectory(codebase.path, directory),
    (booting ? Promise.resolve(ctx.bridge.models.known()) : ctx.bridge.models.forRun()).then((models) => requireRunnable(model, [models], "on this server")),
    input.session_id ? getSessionRow(ctx, codebaseId, input.session_id) : fresh ? Promise.resolve(undefined) : resumableSession(ctx, codebaseId),
  ).catch(giveUp(early));
  if (resume && input.queue && (await shouldQueue(ctx, resume))) {
    if (input.base_ref !== undefined) throw invalid("base_ref starts a new worktree: it cannot be given when resuming a session (send new_session: true)");
    return queueFollowUp(ctx, resume, input, triggerAgent);
  }
  if (resume && ctx.bridge.runner.isRunning(resume.id)) {
    throw conflict(`Session ${resume.id} is still running: wait for it to complete, abort it, or send new_session: true`);
  }
  if (resume && input.base_ref !== undefined)
    throw invalid("base_ref starts a new worktree: it cannot be given when resuming a session (send new_session: true)");

  // Opened ahead, or now (when nothing was ready, or opening ahead failed: it fails again here, in its turn).
  const ahead = early && (await early.catch(() => null));
  const opening = ahead ? Promise.resolve(ahead) : openLocalWorkspace({ ctx, ...where, resumeSessionId: resume?.id });
  const [, lastEventId, workspace] = await firstFailure(requireRunSlot(ctx, codebase), head, opening).catch(giveUp(opening));
  // Made ahead, or by the run's start (when making it ahead failed, it fails again there, in its turn).
  const createdSessionId = (await sessionAhead?.catch(() => null))?.id;
  const title = where.title;
  const worktree = workspace.isolation === "worktree" ? workspace.worktree : undefined;
  let prepared = false;
  const start = () =>
    ctx.bridge.runner.start(
      {
        runId,
        directory: workspace.directory,
        sessionId: resume?.id,
        createdSessionId,
        title,
        agent,
        model,
        prompt: input.prompt,
        ...runLimits(config, ctx.config),
      },
      async (id) => {
        prepared = true;
        // The session's row is written while the prompt goes out (it exists before any outcome is recorded: `finished`
        // waits for it), with its audit entry in the same statement.
        const owner = { runOwner: ctx.instanceId, runHeartbeatAt: new Date() };
        const audit = {
          action: "session.trigger",
          targetType: "session",
          targetId: id,
          detail: { codebase_id: codebaseId, agent, model: model ?? null, run_id: runId },
        };
        const db = ctx.database.db;
        const recording = (async () => {
          await db
            .with(auditing(db, ctx, [audit]))
            .insert(sessions)
            .values({ id, codebaseId, title, agent, model: model ?? null, status: "running", createdBy: createdBy(ctx), ...owner })
            .onConflictDoUpdate({
              target: sessions.id,
              set: { agent, model: model ?? null, status: "running", error: null, updatedAt: new Date(), ...owner },
            });
          if (worktree) await localRecorder({ ctx, codebaseId, taskId: null }).opened(worktree, id);
        })().catch((err) => {
          // What the run's stream says (every reader of the codebase sees it) names no SQL; the log has all of it.
          throw asServiceError(err) ?? new Error("the database refused it (the server's log says why)", { cause: err });
        });
        return logSink(ctx, codebaseId, id, runId, workspace.directory, recording, workspace.isolation === "worktree" ? workspace : undefined);
      },
    );
  const abandon = async () => {
    if (!prepared) await letGo(Promise.resolve(workspace));
  };

  const base = `/v1/opencode/codebases/${codebaseId}`;
  const answer = (sessionId: string | null, status: "running" | "starting"): TriggerResponse => ({
    session_id: sessionId,
    run_id: runId,
    codebase_id: codebaseId,
    status,
    resumed: resume !== undefined,
    agent,
    model: model ?? null,
    last_event_id: lastEventId,
    events_url: `${base}/events`,
    session_url: sessionId ? `${base}/sessions/${sessionId}` : null,
    isolation: workspace.isolation,
    isolation_reason: workspace.isolation === "none" ? workspace.reason : null,
    worktree: worktree ? { id: worktree.id, branch: worktree.branch, base_ref: worktree.baseRef, base_commit: worktree.baseCommit, path: worktree.path } : null,
    diff_url: worktree && sessionId ? `${base}/sessions/${sessionId}/diff` : null,
  });
  if (booting) {
    // OpenCode is still booting (it starts with the server): accept now, begin the run once it is up.
    void start().catch(async (err: unknown) => {
      if (prepared) return; // the run's own end (failed) is already on record
      await abandon();
      const message = `The run could not start: ${(err as Error).message}`;
      const session_id = resume?.id ?? null;
      await ctx.events
        .append(codebaseId, [
          { type: "error", data: { session_id, name: "StartFailed", message, run_id: runId } },
          { type: "complete", data: { session_id, status: "failed", error: message, run_id: runId } },
        ])
        .catch((err) => ctx.log.error({ codebase_id: codebaseId, run_id: runId, err }, "recording a failed start failed"));
    });
    return answer(resume?.id ?? null, "starting");
  }
  const { sessionId } = await start().catch(async (err) => {
    await abandon();
    throw err;
  });
  return answer(sessionId, "running");
}

/**
 * Awaits every promise (none is left running unobserved) and answers their values, or throws the failure of the
 * first in the order given: checks made at once fail as if they had been made one after another.
 */
async function firstFailure<T extends readonly unknown[]>(...promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** A 422 unless `directory` is a directory that stays inside the codebase (through symlinks, which may have changed since it was registered). */
async function requireDirectory(codebasePath: string, directory: string): Promise<void> {
  const isDirectory = await stat(directory).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) throw invalid(`The codebase directory no longer exists: ${directory}`);
  if (!(await realInside(codebasePath, directory))) {
    throw invalid(`The working directory leads outside the codebase (${codebasePath}) through a symlink: ${directory}`);
  }
}

const titleOf = (input: TriggerRequest) => input.title ?? input.prompt.trim().replace(/\s+/g, " ").slice(0, 80);
