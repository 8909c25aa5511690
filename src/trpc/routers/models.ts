import { listModels } from "../../services/models/models.js";
import { readProcedure, router } from "../init.js";

export const modelsRouter = router({
  /** What can run now (the server's OpenCode and online workers), plus the page's listed models marked unavailable. */
  list: readProcedure.query(({ ctx }) => listModels({ ctx: ctx.services })),
});
