import { z } from "zod";
import { Id } from "../../contracts/fields.js";
import { createCodebase, deleteCodebase, getCodebase, listCodebases, updateCodebase } from "../../services/codebases/codebases.js";
import { CreateCodebaseRequest, UpdateCodebaseRequest } from "../../services/codebases/codebases.types.js";
import { PageQuery } from "../../services/paging.js";
import { readProcedure, router, writeProcedure } from "../init.js";

export const codebasesRouter = router({
  /** The first page (up to 100), as a plain array; `page` goes further. */
  list: readProcedure.query(async ({ ctx }) => (await listCodebases({ ctx: ctx.services })).items),
  page: readProcedure.input(PageQuery.optional()).query(({ ctx, input }) => listCodebases({ ctx: ctx.services, query: input ?? {} })),
  get: readProcedure.input(z.object({ id: Id })).query(({ ctx, input }) => getCodebase({ ctx: ctx.services, id: input.id })),
  create: writeProcedure.input(CreateCodebaseRequest).mutation(({ ctx, input }) => createCodebase({ ctx: ctx.services, input })),
  update: writeProcedure
    .input(z.object({ id: Id, patch: UpdateCodebaseRequest }))
    .mutation(({ ctx, input }) => updateCodebase({ ctx: ctx.services, id: input.id, input: input.patch })),
  delete: writeProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => deleteCodebase({ ctx: ctx.services, id: input.id })),
});
