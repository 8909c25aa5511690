/**
 * The shapes of the model catalogue: what a runner (the server's OpenCode or a
 * worker's) reports it can run, and the merged list clients read.
 */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { ModelId } from "./fields.js";

/** Prices in US dollars per million tokens, as OpenCode's catalogue gives them. */
const ModelCost = z
  .object({
    input: z.number(),
    output: z.number(),
    cache_read: z.number().nullable(),
    cache_write: z.number().nullable(),
  })
  .openapi("ModelCost", { description: "US dollars per million tokens" });

const ModelCapabilities = z
  .object({
    tool_call: z.boolean(),
    reasoning: z.boolean(),
    attachment: z.boolean(),
    /** Context window and longest answer, in tokens; null when OpenCode does not say. */
    context_tokens: z.number().int().nullable(),
    output_tokens: z.number().int().nullable(),
  })
  .openapi("ModelCapabilities");

/** One model a runner's OpenCode can run right now (its provider is configured and has credentials). */
export const RunnableModel = z
  .object({
    id: ModelId,
    provider: z.string().max(100),
    name: z.string().max(200),
    capabilities: ModelCapabilities,
    cost: ModelCost.nullable(),
  })
  .openapi("RunnableModel");
export type RunnableModel = z.infer<typeof RunnableModel>;

/** What a runner reports: its models and OpenCode's configured default among them. */
export const RunnerModels = z
  .object({
    models: z.array(RunnableModel).max(5000),
    default: z.string().max(200).nullable(),
  })
  .openapi("RunnerModels");
export type RunnerModels = z.infer<typeof RunnerModels>;

export const Model = z
  .object({
    id: z.string(),
    provider: z.string(),
    name: z.string(),
    description: z.string(),
    recommended: z.boolean(),
    available: z.boolean().openapi({ description: "Something online can run it now: the server's OpenCode or a worker" }),
    available_on: z.array(z.string()).openapi({ description: "Where it can run: `server` and/or the names of online workers" }),
    capabilities: ModelCapabilities.nullable().openapi({ description: "As OpenCode reports them; null for a listed model nothing can run" }),
    cost: ModelCost.nullable(),
  })
  .openapi("Model");
export type Model = z.infer<typeof Model>;

export const ModelList = z
  .object({
    models: z.array(Model),
    /** Provider name to the ids of its models, in the list's order. */
    providers: z.record(z.string(), z.array(z.string())),
    recommended: z.string().nullable(),
    default: z.string().nullable(),
    message: z.string().optional().openapi({ description: "Set when no model can run (how to configure a provider) or the server's OpenCode did not answer" }),
  })
  .openapi("ModelList");
export type ModelList = z.infer<typeof ModelList>;
