/**
 * Field schemas shared by several domains. Built with the `z` of @hono/zod-openapi
 * (plain zod 4 plus `.openapi()`), so tRPC validates and the OpenAPI document
 * describes with the very same objects.
 */
import path from "node:path";
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";

const agentNames = ["build", "plan", "explore", "general"] as const;
/** The agent a run gets when neither it nor its codebase's `default_agent` names one. */
export const defaultAgent = "build" satisfies (typeof agentNames)[number];
export const AgentName = z.enum(agentNames).openapi("AgentName", { description: "OpenCode agent to run" });
export type AgentName = z.infer<typeof AgentName>;

export const ModelId = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, "model must look like provider/model")
  .openapi({ example: "anthropic/claude-sonnet-4-20250514" });

/** An absolute, normalized path with no NUL byte; existence is checked by the service. */
export const AbsolutePath = z
  .string()
  .min(1, "path is required")
  .max(4096)
  .refine((p) => !p.includes("\0"), "path must not contain a NUL byte")
  .refine((p) => path.isAbsolute(p), "path must be absolute")
  .refine((p) => path.normalize(p) === p, "path must be normalized (no '.', '..' or '//' segments)")
  .transform((p) => (p.length > 1 ? p.replace(/\/+$/, "") : p));

/** What an id may not contain: control characters (Postgres cannot even store NUL). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const noControlCharacters = /^[^\u0000-\u001f\u007f]*$/;

export const Id = z.string().min(1).max(200).regex(noControlCharacters, "must not contain control characters");

/** Timestamps cross every transport as ISO 8601 strings. */
export const Timestamp = z.string().openapi({ format: "date-time", example: "2026-11-24T12:00:00.000Z" });
