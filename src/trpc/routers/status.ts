import { getStatus } from "../../services/status.js";
import { publicProcedure, router } from "../init.js";

export const statusRouter = router({
  get: publicProcedure.query(({ ctx }) => getStatus({ ctx: ctx.services })),
});
