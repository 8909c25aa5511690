/**
 * Webhook endpoints and their delivery logs, changed by admins (each change audited). What is sent and when is
 * the dispatcher's (dispatcher.ts); what causes a message is webhook-events.ts.
 */
import { randomBytes } from "node:crypto";
import { and, asc, count, desc, eq, inArray, isNull, lt, or, type SQL } from "drizzle-orm";
import { z } from "zod";
import { conflict, invalid, notFound } from "../../contracts/errors.js";
import { codebases, webhookAttempts, webhookDeliveries, webhookEndpoints } from "../../db/schema.js";
import { audited } from "../access/audit.js";
import { createdBy } from "../access/scope.js";
import type { ServiceContext } from "../context.js";
import { cutPage, decodeCursor, defaultPageItems, ExactTime, exactTime, type Page } from "../paging.js";
import { enqueueWebhooks, webhooksChannel } from "./outbox.js";
import { AddressPolicy, newWebhookSecret, urlRefusal } from "./send.js";
import type { WebhookEventType } from "./webhook-events.js";
import type {
  CreatedWebhook,
  CreateWebhookRequest,
  DeliveriesQuery,
  UpdateWebhookRequest,
  Webhook,
  WebhookDelivery,
  WebhookDeliveryDetail,
} from "./webhooks.types.js";

type EndpointRow = typeof webhookEndpoints.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;

const toWebhook = (r: EndpointRow, pending: number): Webhook => ({
  id: r.id,
  url: r.url,
  description: r.description,
  events: r.eventTypes as WebhookEventType[],
  codebase_ids: r.codebaseIds ?? null,
  enabled: r.disabledAt === null,
  disabled_reason: r.disabledReason,
  failing_since: r.failingSince?.toISOString() ?? null,
  pending,
  created_by: r.createdBy,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

const toDelivery = (r: DeliveryRow): WebhookDelivery => ({
  id: r.id,
  webhook_id: r.endpointId,
  event_type: r.eventType as WebhookEventType,
  status: r.status as WebhookDelivery["status"],
  attempts: r.attempts,
  next_attempt_at: r.status === "pending" ? r.nextAttemptAt.toISOString() : null,
  last_status_code: r.lastStatusCode,
  last_error: r.lastError,
  last_duration_ms: r.lastDurationMs,
  delivered_at: r.deliveredAt?.toISOString() ?? null,
  created_at: r.createdAt.toISOString(),
  payload: r.payload,
});

/** Refuses a URL webhooks may not be sent to (a 422 that says why), before it is stored. */
function checkUrl(ctx: ServiceContext, url: string) {
  const why = urlRefusal(new URL(url), new AddressPolicy(ctx.config.webhooks.allowPrivate));
  if (why) throw invalid(`url: ${why}`);
}

async function checkCodebases(ctx: ServiceContext, ids: string[] | null | undefined) {
  if (!ids) return;
  const found = await ctx.database.db.select({ id: codebases.id }).from(codebases).where(inArray(codebases.id, ids));
  const missing = ids.filter((id) => !found.some((f) => f.id === id));
  if (missing.length > 0) throw invalid(`codebase_ids: no codebase ${missing.join(", ")}`);
}

async function pendingCounts(ctx: ServiceContext, ids: string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await ctx.database.db
    .select({ id: webhookDeliveries.endpointId, n: count() })
    .from(webhookDeliveries)
    .where(and(inArray(webhookDeliveries.endpointId, ids), eq(webhookDeliveries.status, "pending")))
    .groupBy(webhookDeliveries.endpointId);
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

async function endpointRow(ctx: ServiceContext, id: string): Promise<EndpointRow> {
  const [row] = await ctx.database.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
  if (!row) throw notFound("Webhook");
  return row;
}

export async function listWebhooks({ ctx }: { ctx: ServiceContext }): Promise<Webhook[]> {
  const rows = await ctx.database.db.select().from(webhookEndpoints).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
  const pending = await pendingCounts(
    ctx,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toWebhook(r, pending.get(r.id) ?? 0));
}

export async function getWebhook({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<Webhook> {
  const row = await endpointRow(ctx, id);
  return toWebhook(row, (await pendingCounts(ctx, [id])).get(id) ?? 0);
}

/** Registers an endpoint; the answer's `secret` is the only time it is shown. */
export async function createWebhook({ ctx, input }: { ctx: ServiceContext; input: CreateWebhookRequest }): Promise<CreatedWebhook> {
  checkUrl(ctx, input.url);
  await checkCodebases(ctx, input.codebase_ids);
  const secret = newWebhookSecret();
  const row = await audited(
    ctx,
    async (tx) =>
      (
        await tx
          .insert(webhookEndpoints)
          .values({
            id: `wh_${randomBytes(9).toString("base64url")}`,
            url: input.url,
            description: input.description ?? "",
            eventTypes: [...new Set(input.events)],
            codebaseIds: input.codebase_ids ?? null,
            secret,
            createdBy: createdBy(ctx),
          })
          .returning()
      )[0]!,
    (r) => ({ action: "webhook.create", targetType: "webhook", targetId: r.id, detail: { url: r.url, events: r.eventTypes, codebase_ids: r.codebaseIds } }),
  );
  return { ...toWebhook(row, 0), secret };
}

export async function updateWebhook({ ctx, id, input }: { ctx: ServiceContext; id: string; input: UpdateWebhookRequest }): Promise<Webhook> {
  if (input.url) checkUrl(ctx, input.url);
  await checkCodebases(ctx, input.codebase_ids);
  const row = await audited(
    ctx,
    async (tx) => {
      const set: Partial<EndpointRow> = { updatedAt: new Date() };
      if (input.url !== undefined) set.url = input.url;
      if (input.events !== undefined) set.eventTypes = [...new Set(input.events)];
      if (input.codebase_ids !== undefined) set.codebaseIds = input.codebase_ids;
      if (input.description !== undefined) set.description = input.description;
      if (input.enabled === false) Object.assign(set, { disabledAt: new Date(), disabledReason: "turned off by an admin" });
      if (input.enabled === true) Object.assign(set, { disabledAt: null, disabledReason: null, failingSince: null });
      const [updated] = await tx.update(webhookEndpoints).set(set).where(eq(webhookEndpoints.id, id)).returning();
      if (!updated) throw notFound("Webhook");
      return updated;
    },
    (r) => ({ action: "webhook.update", targetType: "webhook", targetId: r.id, detail: { ...input } }),
  );
  // Enabled again: what waited is due now.
  if (input.enabled === true) await ctx.database.notify(webhooksChannel, "");
  return getWebhook({ ctx, id: row.id });
}

/** Removes an endpoint and its delivery log; what was not sent yet is not sent. */
export async function deleteWebhook({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<{ id: string; deleted: true }> {
  await audited(
    ctx,
    async (tx) => {
      const [row] = await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id)).returning({ id: webhookEndpoints.id });
      if (!row) throw notFound("Webhook");
      return row;
    },
    (r) => ({ action: "webhook.delete", targetType: "webhook", targetId: r.id }),
  );
  return { id, deleted: true };
}

/** Sends a `webhook.test` message to the endpoint (through the outbox, like any other). */
export async function testWebhook({ ctx, id }: { ctx: ServiceContext; id: string }): Promise<WebhookDelivery> {
  const endpoint = await endpointRow(ctx, id);
  if (endpoint.disabledAt) throw conflict(`The webhook is disabled (${endpoint.disabledReason}): enable it first`);
  const [delivery] = await ctx.database.db.transaction(async (tx) => {
    const [deliveryId] = await enqueueWebhooks(
      tx,
      [{ type: "webhook.test", codebaseId: null, data: { webhook_id: id, message: "A test message from CodeTether" } }],
      id,
    );
    return tx.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, deliveryId!));
  });
  return toDelivery(delivery!);
}

const DeliveryCursor = z.tuple([ExactTime, z.string().max(200)]);

/** The endpoint's deliveries, newest first. */
export async function listDeliveries({ ctx, id, query }: { ctx: ServiceContext; id: string; query: DeliveriesQuery }): Promise<Page<WebhookDelivery>> {
  await endpointRow(ctx, id);
  const limit = query.limit ?? defaultPageItems;
  const after = decodeCursor(query.cursor, DeliveryCursor);
  const filters: (SQL | undefined)[] = [
    eq(webhookDeliveries.endpointId, id),
    query.status ? eq(webhookDeliveries.status, query.status) : undefined,
    after
      ? or(lt(webhookDeliveries.createdAt, new Date(after[0])), and(eq(webhookDeliveries.createdAt, new Date(after[0])), lt(webhookDeliveries.id, after[1])))
      : undefined,
  ];
  const rows = await ctx.database.db
    .select({ row: webhookDeliveries, at: exactTime(webhookDeliveries.createdAt) })
    .from(webhookDeliveries)
    .where(and(...filters))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(limit + 1);
  return cutPage(
    rows,
    limit,
    (r) => toDelivery(r.row),
    (r) => [r.at, r.row.id],
  );
}

async function deliveryRow(ctx: ServiceContext, id: string, deliveryId: string): Promise<DeliveryRow> {
  const [row] = await ctx.database.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.endpointId, id)));
  if (!row) throw notFound("Delivery");
  return row;
}

/** One delivery with every attempt's outcome. */
export async function getDelivery({ ctx, id, deliveryId }: { ctx: ServiceContext; id: string; deliveryId: string }): Promise<WebhookDeliveryDetail> {
  const row = await deliveryRow(ctx, id, deliveryId);
  const log = await ctx.database.db.select().from(webhookAttempts).where(eq(webhookAttempts.deliveryId, deliveryId)).orderBy(asc(webhookAttempts.attempt));
  return {
    ...toDelivery(row),
    log: log.map((a) => ({ attempt: a.attempt, at: a.at.toISOString(), status_code: a.statusCode, error: a.error, duration_ms: a.durationMs })),
  };
}

/** Sends a delivery again now, with the same `webhook-id` (a receiver that has it already can drop it). */
export async function redeliver({ ctx, id, deliveryId }: { ctx: ServiceContext; id: string; deliveryId: string }): Promise<WebhookDelivery> {
  await deliveryRow(ctx, id, deliveryId);
  const row = await audited(
    ctx,
    async (tx) => {
      const [updated] = await tx
        .update(webhookDeliveries)
        .set({ status: "pending", nextAttemptAt: new Date(), leaseUntil: null, leasedBy: null })
        .where(
          and(
            eq(webhookDeliveries.id, deliveryId),
            // An attempt in flight is left to finish: redelivering it would send the same attempt twice at once.
            or(isNull(webhookDeliveries.leaseUntil), lt(webhookDeliveries.leaseUntil, new Date())),
          ),
        )
        .returning();
      if (!updated) throw conflict("An attempt of this delivery is in flight: wait for its outcome");
      return updated;
    },
    (r) => ({ action: "webhook.redeliver", targetType: "webhook_delivery", targetId: r.id, detail: { webhook_id: id } }),
  );
  await ctx.database.notify(webhooksChannel, "");
  return toDelivery(row);
}
