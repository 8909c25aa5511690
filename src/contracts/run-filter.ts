/**
 * Following one run by its `run_id`: a trigger's answer names the run, but the
 * session only once OpenCode has made it (a run accepted while OpenCode boots has
 * none yet). The run's first event carries its `run_id` and names its session;
 * from then on the session's events are the run's. The SDK, the dashboard (through
 * the SDK) and the MCP tools all follow a run with this, and nothing else.
 */

export interface RunFilter {
  /** Whether this event (of the codebase's stream, in order) is the run's. */
  keeps(event: { data: unknown }): boolean;
  /** The run's session, once an event named it (or the one it was known by from the start). */
  readonly sessionId: string | null;
}

export function runFilter(runId: string, sessionId: string | null = null): RunFilter {
  let session = sessionId;
  return {
    keeps(event) {
      const data = event.data as { session_id?: string | null; run_id?: string };
      if (data.run_id === runId) {
        session ??= data.session_id ?? null;
        return true;
      }
      return session !== null && data.session_id === session;
    },
    get sessionId() {
      return session;
    },
  };
}

/**
 * The filter for a trigger's answer. A queued follow-up names its session from the start, but the session's
 * events are its own only from its run's first event on (before that they are the turn it waits behind).
 */
export function runFilterFor(answer: { run_id: string; session_id: string | null; status?: string }): RunFilter {
  return runFilter(answer.run_id, answer.status === "queued" ? null : answer.session_id);
}
