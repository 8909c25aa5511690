import { getStatus } from "../../services/status.js";
import { readProcedure, router } from "../init.js";

export const statusRouter = router({
  get: readProcedure.query(({ ctx }) => getStatus({ ctx: ctx.services })),
});
