/**
 * `@codetether/sdk`: a typed client for a CodeTether server.
 *
 * ```ts
 * const ct = createCodeTetherClient({ url: "http://localhost:8000", apiKey: process.env.CODETETHER_API_KEY });
 * const run = await ct.trigger(codebaseId, { prompt: "Add a README" });
 * for await (const event of run) console.log(event.type);
 * ```
 */

// Errors a call can throw: `err instanceof TRPCClientError`, then `err.data?.code` (e.g. "NOT_FOUND"); a refused key:
// `isUnauthorized(err)`.
export { isTRPCClientError, TRPCClientError } from "@trpc/client";
export type { RunFilter } from "../../src/contracts/run-filter.js";
export { runFilter } from "../../src/contracts/run-filter.js";
export type { CodeTetherClient, CodeTetherClientOptions, EventsOptions } from "./client.js";
export { createCodeTetherClient } from "./client.js";
export { isUnauthorized, RefusedKeyError } from "./errors.js";
export type { AgentRun, RunResult, WaitOptions } from "./runs.js";
export type {
  AgentEvent,
  ApplyMode,
  AppRouter,
  ChangeResult,
  Codebase,
  CreateCodebaseInput,
  CreateTaskInput,
  EventData,
  EventOf,
  EventType,
  ModelList,
  RouterInputs,
  RouterOutputs,
  RunDiff,
  Task,
  TriggerRequest,
  TriggerResponse,
} from "./types.js";
