import { listModels } from "../../services/models.js";
import { publicProcedure, router } from "../init.js";

export const modelsRouter = router({
  list: publicProcedure.query(() => listModels()),
});
