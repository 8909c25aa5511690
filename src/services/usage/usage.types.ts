/** Shapes of usage totals and the usage report. */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { Id, Timestamp } from "../../contracts/fields.js";

/** Sums of `usage` events: what a session, a task, a codebase or a report group spent. */
export const Usage = z
  .object({
    input_tokens: z.number().int(),
    output_tokens: z.number().int(),
    reasoning_tokens: z.number().int(),
    cache_read_tokens: z.number().int(),
    cache_write_tokens: z.number().int(),
    cost: z.number().openapi({ description: "US dollars" }),
    steps: z.number().int().openapi({ description: "Model steps (usage events) counted" }),
  })
  .openapi("Usage");
export type Usage = z.infer<typeof Usage>;

const usageDimensions = ["codebase", "model", "worker", "agent", "day"] as const;
export type UsageDimension = (typeof usageDimensions)[number];

const dimensionList = z
  .string()
  .max(100)
  .transform((s, ctx) => {
    const dims = [
      ...new Set(
        s
          .split(",")
          .map((d) => d.trim())
          .filter(Boolean),
      ),
    ];
    const unknown = dims.filter((d) => !(usageDimensions as readonly string[]).includes(d));
    if (unknown.length > 0) {
      ctx.addIssue({ code: "custom", message: `unknown group_by "${unknown.join(", ")}": use ${usageDimensions.join(", ")} (comma-separated)` });
      return z.NEVER;
    }
    return dims as UsageDimension[];
  });

const firstMs = Date.UTC(1970, 0, 1);
const lastMs = Date.UTC(9999, 11, 31);
const instant = z
  .string()
  .max(40)
  .refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO 8601 date or time")
  .refine((s) => Date.parse(s) >= firstMs && Date.parse(s) <= lastMs, "must be between 1970 and 9999")
  .openapi({ format: "date-time" });

export const UsageQuery = z
  .object({
    from: instant.optional().openapi({ description: "Start of the range (inclusive), rounded down to the hour; default 30 days before `to`" }),
    to: instant.optional().openapi({ description: "End of the range (exclusive), rounded up to the hour; default now" }),
    group_by: dimensionList
      .optional()
      .openapi({ type: "string", description: `Comma-separated: ${usageDimensions.join(", ")}; default: no grouping (one total)`, example: "model,day" }),
    codebase_id: Id.optional().openapi({ description: "Only this codebase" }),
  })
  .strict();
export type UsageQuery = z.infer<typeof UsageQuery>;

const UsageGroup = Usage.extend({
  codebase_id: z.string().optional(),
  model: z.string().optional(),
  worker: z.string().optional().openapi({ description: "A worker's name, or `local` for the server's own OpenCode" }),
  agent: z.string().optional(),
  day: z.string().optional().openapi({ description: "YYYY-MM-DD (UTC)" }),
}).openapi("UsageGroup");

export const UsageReport = z
  .object({
    from: Timestamp,
    to: Timestamp,
    group_by: z.array(z.enum(usageDimensions)),
    groups: z.array(UsageGroup).openapi({ description: "One per combination of the group_by values that spent anything, costliest first" }),
    total: Usage,
  })
  .openapi("UsageReport");
export type UsageReport = z.infer<typeof UsageReport>;
