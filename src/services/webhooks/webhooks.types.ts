/** Shapes of webhook endpoints, their deliveries and each delivery's attempts. */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { Id, Timestamp } from "../../contracts/fields.js";
import { PageQuery } from "../paging.js";
import { webhookEventMeanings, webhookEventTypes } from "./webhook-events.js";

export const WebhookEventType = z.enum(webhookEventTypes).openapi("WebhookEventType", {
  description: Object.entries(webhookEventMeanings)
    .map(([type, meaning]) => `\`${type}\`: ${meaning}`)
    .join("\n"),
});

const Url = z
  .string()
  .trim()
  .max(2000)
  .refine((u) => URL.canParse(u), "url must be an absolute http(s) URL")
  .openapi({ example: "https://hooks.example.com/codetether" });

const Events = z.array(WebhookEventType).min(1, "name at least one event type").max(webhookEventTypes.length);
const CodebaseIds = z
  .array(Id)
  .min(1)
  .max(100)
  .nullable()
  .openapi({ description: "Only events of these codebases (events about no codebase, such as worker.offline, still come); null or absent for all" });

export const CreateWebhookRequest = z
  .object({
    url: Url,
    events: Events,
    codebase_ids: CodebaseIds.optional(),
    description: z.string().max(500).optional(),
  })
  .strict()
  .openapi("CreateWebhookRequest");
export type CreateWebhookRequest = z.infer<typeof CreateWebhookRequest>;

export const UpdateWebhookRequest = z
  .object({
    url: Url.optional(),
    events: Events.optional(),
    codebase_ids: CodebaseIds.optional(),
    description: z.string().max(500).optional(),
    enabled: z
      .boolean()
      .optional()
      .openapi({ description: "false turns it off: nothing is sent or recorded for it until it is turned on again (which also clears a disabling)" }),
  })
  .strict()
  .refine((u) => Object.keys(u).length > 0, "give at least one field to change")
  .openapi("UpdateWebhookRequest");
export type UpdateWebhookRequest = z.infer<typeof UpdateWebhookRequest>;

export const Webhook = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string(),
    events: z.array(WebhookEventType),
    codebase_ids: z.array(z.string()).nullable(),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable().openapi({ description: "Why it was turned off: by an admin, or after failing for the whole retry window" }),
    failing_since: Timestamp.nullable().openapi({ description: "Since when its deliveries have failed without one succeeding" }),
    pending: z.number().int().openapi({ description: "Deliveries waiting to be sent or retried" }),
    created_by: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Webhook");
export type Webhook = z.infer<typeof Webhook>;

export const CreatedWebhook = Webhook.extend({
  secret: z.string().openapi({ description: "The signing secret (`whsec_…`), shown this once: verify `webhook-signature` with it" }),
}).openapi("CreatedWebhook");
export type CreatedWebhook = z.infer<typeof CreatedWebhook>;

const WebhookAttempt = z
  .object({
    attempt: z.number().int(),
    at: Timestamp,
    status_code: z.number().int().nullable().openapi({ description: "What the endpoint answered; null when it did not (refused, timed out, unreachable)" }),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
  })
  .openapi("WebhookAttempt");

export const WebhookDelivery = z
  .object({
    id: z.string().openapi({ description: "The `webhook-id` header: the same on every attempt, so receivers can drop repeats" }),
    webhook_id: z.string(),
    event_type: WebhookEventType,
    status: z.enum(["pending", "succeeded", "failed"]).openapi({ description: "`failed`: gave up after the retry window" }),
    attempts: z.number().int(),
    next_attempt_at: Timestamp.nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    last_duration_ms: z.number().int().nullable(),
    delivered_at: Timestamp.nullable(),
    created_at: Timestamp,
    payload: z.record(z.string(), z.unknown()).openapi({ description: "The body as sent: { type, timestamp, data }" }),
  })
  .openapi("WebhookDelivery");
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const WebhookDeliveryDetail = WebhookDelivery.extend({ log: z.array(WebhookAttempt) }).openapi("WebhookDeliveryDetail");
export type WebhookDeliveryDetail = z.infer<typeof WebhookDeliveryDetail>;

export const DeliveriesQuery = PageQuery.extend({
  status: z.enum(["pending", "succeeded", "failed"]).optional(),
});
export type DeliveriesQuery = z.infer<typeof DeliveriesQuery>;

export const DeletedWebhook = z.object({ id: z.string(), deleted: z.literal(true) }).openapi("DeletedWebhook");
