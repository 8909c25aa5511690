/**
 * The shapes the SDK speaks, all derived from the server's router and event schemas.
 * Type-only imports: the built package carries none of the server's code, and the
 * declaration bundle keeps only what these types reach (see rollup.config.mjs).
 */
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AgentEvent, EventData, EventType } from "../../src/contracts/events.js";
import type { AppRouter } from "../../src/trpc/router.js";

export type { AgentEvent, AppRouter, EventData, EventType };

/** Every procedure's input, by path: `RouterInputs["codebases"]["create"]`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Every procedure's output, by path: `RouterOutputs["codebases"]["get"]`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** A registered codebase. */
export type Codebase = RouterOutputs["codebases"]["get"];
/** What `createCodebase` takes: a name and an absolute path to an existing directory. */
export type CreateCodebaseInput = RouterInputs["codebases"]["create"];
/** What starts an agent: the prompt, and optionally agent, model and session. */
export type TriggerRequest = RouterInputs["sessions"]["trigger"]["request"];
/**
 * The server's answer to a trigger: the session, the run's id and the event cursor it starts after. `status` is
 * `running`, `starting` (OpenCode boots; the session is named by the run's first event) or `queued` (a follow-up
 * sent with `queue: true` waits behind the session's running turn; `queued_prompt` describes it).
 */
export type TriggerResponse = RouterOutputs["sessions"]["trigger"];
/** A queued task. */
export type Task = RouterOutputs["tasks"]["get"];
/** What `createTask` takes (besides the codebase id). */
export type CreateTaskInput = RouterInputs["tasks"]["create"]["task"];
/** The model catalogue. */
export type ModelList = RouterOutputs["models"]["list"];
/** One event of a given type, e.g. `EventOf<"complete">`. */
export type EventOf<T extends EventType> = Extract<AgentEvent, { type: T }>;
/** What a run changed in its worktree: per-file summary and the unified diff. */
export type RunDiff = RouterOutputs["sessions"]["diff"];
/** How `applyChanges` brings a run's branch in: `merge` (default), `fast-forward` or `uncommitted`. */
export type ApplyMode = NonNullable<RouterInputs["sessions"]["applyChanges"]["mode"]>;
/** The outcome of applying, discarding or pushing a run's changes. */
export type ChangeResult = RouterOutputs["sessions"]["applyChanges"];
