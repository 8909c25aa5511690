import { usageReport } from "../../services/usage/usage.js";
import { UsageQuery } from "../../services/usage/usage.types.js";
import { readProcedure, router } from "../init.js";

export const usageRouter = router({
  /** Tokens and cost over a time range, grouped as asked (see GET /v1/opencode/usage). */
  report: readProcedure.input(UsageQuery.optional()).query(({ ctx, input }) => usageReport({ ctx: ctx.services, query: input ?? {} })),
});
