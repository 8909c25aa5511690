import { z } from "zod";
import { createCodebase, deleteCodebase, getCodebase, listCodebases, updateCodebase } from "../../services/codebases.js";
import { CreateCodebaseRequest, UpdateCodebaseRequest } from "../../services/codebases.types.js";
import { Id } from "../../services/schemas.js";
import { publicProcedure, router } from "../init.js";

export const codebasesRouter = router({
  list: publicProcedure.query(({ ctx }) => listCodebases({ ctx: ctx.services })),
  get: publicProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getCodebase({ ctx: ctx.services, id: input.id })),
  create: publicProcedure.input(CreateCodebaseRequest).mutation(({ ctx, input }) => createCodebase({ ctx: ctx.services, input })),
  update: publicProcedure
    .input(z.object({ id: Id, patch: UpdateCodebaseRequest }))
    .mutation(({ ctx, input }) => updateCodebase({ ctx: ctx.services, id: input.id, input: input.patch })),
  delete: publicProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => deleteCodebase({ ctx: ctx.services, id: input.id })),
});
