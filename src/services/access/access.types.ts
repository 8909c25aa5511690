/** Shapes of users, API keys and the audit log. */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { Role } from "../../contracts/access.js";
import { Id, Timestamp } from "../../contracts/fields.js";
import { PageQuery } from "../paging.js";

const Name = z.string().trim().min(1).max(100);

export const User = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    disabled: z.boolean().openapi({ description: "A disabled user's keys are refused" }),
    created_at: Timestamp,
  })
  .openapi("User");
export type User = z.infer<typeof User>;

export const CreateUserRequest = z.object({ name: Name, role: Role }).strict().openapi("CreateUserRequest");
export type CreateUserRequest = z.infer<typeof CreateUserRequest>;

export const UpdateUserRequest = z
  .object({ role: Role.optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((u) => u.role !== undefined || u.disabled !== undefined, "give role or disabled")
  .openapi("UpdateUserRequest");
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

export const ApiKey = z
  .object({
    id: z.string().openapi({ description: "Public: the key starts with `ctk_<id>_`, and the log and audit trail name it" }),
    user_id: z.string(),
    user_name: z.string(),
    name: z.string(),
    role: Role,
    codebase_ids: z.array(z.string()).nullable().openapi({ description: "The only codebases it may see; null for all" }),
    worker_names: z.array(z.string()).nullable().openapi({ description: "For a worker key: the workers it may speak for; null for any" }),
    expires_at: Timestamp.nullable(),
    last_used_at: Timestamp.nullable().openapi({ description: "Updated at most once a minute" }),
    revoked_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .openapi("ApiKey");
export type ApiKey = z.infer<typeof ApiKey>;

export const CreateKeyRequest = z
  .object({
    user_id: Id.optional().openapi({ description: "Whose key (default: the caller's own; an admin may name anyone)" }),
    name: Name,
    role: Role.optional().openapi({ description: "The key's role: its user's (the default) or less" }),
    codebase_ids: z.array(Id).min(1).max(1000).optional(),
    worker_names: z.array(Id).min(1).max(1000).optional(),
    expires_at: z.string().datetime({ offset: true }).optional().openapi({ description: "When it stops working (ISO 8601); none: never" }),
  })
  .strict()
  .openapi("CreateKeyRequest");
export type CreateKeyRequest = z.infer<typeof CreateKeyRequest>;

export const CreatedKey = ApiKey.extend({
  key: z.string().openapi({ description: "The key itself, `ctk_…`: shown this once and never again (only its hash is stored)" }),
}).openapi("CreatedKey");
export type CreatedKey = z.infer<typeof CreatedKey>;

export const AuditEntry = z
  .object({
    id: z.number().int(),
    at: Timestamp,
    actor: z.enum(["key", "builtin", "open", "system"]),
    user_id: z.string().nullable(),
    key_id: z.string().nullable(),
    request_id: z.string().nullable(),
    action: z.string().openapi({ example: "codebase.create" }),
    target_type: z.string(),
    target_id: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
  })
  .openapi("AuditEntry");
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditQuery = PageQuery.extend({
  action: z.string().max(100).optional().openapi({ description: "Only this action (e.g. `key.revoke`)" }),
  target_type: z.string().max(100).optional(),
  target_id: z.string().max(200).optional(),
  user_id: z.string().max(200).optional(),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

export const Me = z
  .object({
    kind: z
      .enum(["key", "builtin", "open"])
      .openapi({ description: "`key`: a key of a user; `builtin`: CODETETHER_API_KEY or the worker token; `open`: no key needed here" }),
    role: Role,
    user_id: z.string().nullable(),
    user_name: z.string(),
    key_id: z.string().nullable(),
    codebase_ids: z.array(z.string()).nullable(),
  })
  .openapi("Me");
export type Me = z.infer<typeof Me>;
