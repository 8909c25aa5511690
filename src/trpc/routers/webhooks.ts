/** Webhook endpoints and their delivery logs (admins); the same verbs as /v1/opencode/webhooks. */
import { z } from "zod";
import { Id } from "../../contracts/fields.js";
import {
  createWebhook,
  deleteWebhook,
  getDelivery,
  getWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
  testWebhook,
  updateWebhook,
} from "../../services/webhooks/endpoints.js";
import { CreateWebhookRequest, DeliveriesQuery, UpdateWebhookRequest } from "../../services/webhooks/webhooks.types.js";
import { adminProcedure, router } from "../init.js";

const Hook = z.object({ id: Id });
const Delivery = z.object({ id: Id, deliveryId: Id });

export const webhooksRouter = router({
  list: adminProcedure.query(({ ctx }) => listWebhooks({ ctx: ctx.services })),
  get: adminProcedure.input(Hook).query(({ ctx, input }) => getWebhook({ ctx: ctx.services, id: input.id })),
  /** The answer's `secret` is shown this once. */
  create: adminProcedure.input(CreateWebhookRequest).mutation(({ ctx, input }) => createWebhook({ ctx: ctx.services, input })),
  update: adminProcedure
    .input(z.object({ id: Id, changes: UpdateWebhookRequest }))
    .mutation(({ ctx, input }) => updateWebhook({ ctx: ctx.services, id: input.id, input: input.changes })),
  delete: adminProcedure.input(Hook).mutation(({ ctx, input }) => deleteWebhook({ ctx: ctx.services, id: input.id })),
  test: adminProcedure.input(Hook).mutation(({ ctx, input }) => testWebhook({ ctx: ctx.services, id: input.id })),
  deliveries: adminProcedure
    .input(Hook.extend({ query: DeliveriesQuery.optional() }))
    .query(({ ctx, input }) => listDeliveries({ ctx: ctx.services, id: input.id, query: input.query ?? {} })),
  delivery: adminProcedure.input(Delivery).query(({ ctx, input }) => getDelivery({ ctx: ctx.services, id: input.id, deliveryId: input.deliveryId })),
  redeliver: adminProcedure.input(Delivery).mutation(({ ctx, input }) => redeliver({ ctx: ctx.services, id: input.id, deliveryId: input.deliveryId })),
});
