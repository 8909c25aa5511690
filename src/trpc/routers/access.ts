/** Users, API keys and the audit log (admins), and who the caller is (anyone). */
import { z } from "zod";
import { Id } from "../../contracts/fields.js";
import { AuditQuery, CreateKeyRequest, CreateUserRequest, UpdateUserRequest } from "../../services/access/access.types.js";
import { listAudit } from "../../services/access/audit.js";
import { createKey, createUser, describeCaller, listKeys, listUsers, revokeKey, updateUser } from "../../services/access/keys.js";
import { adminProcedure, readProcedure, router } from "../init.js";

export const accessRouter = router({
  /** Who the key belongs to, its role and codebases (see GET /v1/opencode/me). */
  me: readProcedure.query(({ ctx }) => describeCaller({ ctx: ctx.services })),
  users: adminProcedure.query(({ ctx }) => listUsers({ ctx: ctx.services })),
  createUser: adminProcedure.input(CreateUserRequest).mutation(({ ctx, input }) => createUser({ ctx: ctx.services, input })),
  updateUser: adminProcedure
    .input(z.object({ id: Id, changes: UpdateUserRequest }))
    .mutation(({ ctx, input }) => updateUser({ ctx: ctx.services, id: input.id, input: input.changes })),
  keys: adminProcedure.input(z.object({ userId: Id.optional() }).optional()).query(({ ctx, input }) => listKeys({ ctx: ctx.services, userId: input?.userId })),
  /** The answer's `key` is shown this once. */
  createKey: adminProcedure.input(CreateKeyRequest).mutation(({ ctx, input }) => createKey({ ctx: ctx.services, input })),
  revokeKey: adminProcedure.input(z.object({ id: Id })).mutation(({ ctx, input }) => revokeKey({ ctx: ctx.services, id: input.id })),
  audit: adminProcedure.input(AuditQuery.optional()).query(({ ctx, input }) => listAudit({ ctx: ctx.services, query: input ?? {} })),
});
