/** REST shim for webhook endpoints and their delivery logs: admins only. */
import { z } from "@hono/zod-openapi";
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
import {
  CreatedWebhook,
  CreateWebhookRequest,
  DeletedWebhook,
  DeliveriesQuery,
  UpdateWebhookRequest,
  Webhook,
  WebhookDelivery,
  WebhookDeliveryDetail,
} from "../../services/webhooks/webhooks.types.js";
import { type Api, apiRoute, jsonBody, jsonResponse, pagedResponse, pathId, respondPage } from "../openapi.js";

const tags = ["Webhooks"];
const base = "/v1/opencode/webhooks";
const HookParam = z.object({ webhook_id: pathId("webhook_id", "wh_0a1b2c3d4e5f") });
const DeliveryParam = HookParam.extend({ delivery_id: pathId("delivery_id", "msg_0a1b2c3d4e5f") });

const routes = {
  list: apiRoute({
    method: "get",
    access: "admin",
    path: base,
    operationId: "webhooks.list",
    tags,
    summary: "List the webhook endpoints, oldest first (never their secrets)",
    responses: { 200: jsonResponse(z.array(Webhook), "The endpoints") },
  }),
  create: apiRoute(
    {
      method: "post",
      access: "admin",
      path: base,
      operationId: "webhooks.create",
      tags,
      summary: "Register an endpoint for some event types: the answer's `secret` (to verify signatures) is shown this once",
      description:
        "Deliveries follow Standard Webhooks: a POST with `webhook-id`, `webhook-timestamp` and `webhook-signature` " +
        "(`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the secret's base64 part). URLs on loopback, link-local " +
        "or private networks are refused unless CODETETHER_WEBHOOK_ALLOW_PRIVATE lists them.",
      request: { body: jsonBody(CreateWebhookRequest) },
      responses: { 201: jsonResponse(CreatedWebhook, "The endpoint, with its secret") },
    },
    422,
  ),
  get: apiRoute(
    {
      method: "get",
      access: "admin",
      path: `${base}/{webhook_id}`,
      operationId: "webhooks.get",
      tags,
      summary: "One endpoint",
      request: { params: HookParam },
      responses: { 200: jsonResponse(Webhook, "The endpoint") },
    },
    404,
  ),
  update: apiRoute(
    {
      method: "patch",
      access: "admin",
      path: `${base}/{webhook_id}`,
      operationId: "webhooks.update",
      tags,
      summary: "Change an endpoint's URL, event types or codebases, or turn it off and on",
      request: { params: HookParam, body: jsonBody(UpdateWebhookRequest) },
      responses: { 200: jsonResponse(Webhook, "The endpoint") },
    },
    404,
    422,
  ),
  remove: apiRoute(
    {
      method: "delete",
      access: "admin",
      path: `${base}/{webhook_id}`,
      operationId: "webhooks.delete",
      tags,
      summary: "Remove an endpoint and its delivery log (what is still pending is not sent)",
      request: { params: HookParam },
      responses: { 200: jsonResponse(DeletedWebhook, "Removed") },
    },
    404,
  ),
  test: apiRoute(
    {
      method: "post",
      access: "admin",
      path: `${base}/{webhook_id}/test`,
      operationId: "webhooks.test",
      tags,
      summary: "Send a `webhook.test` message now; follow it in the delivery log",
      request: { params: HookParam },
      responses: { 202: jsonResponse(WebhookDelivery, "The delivery, pending") },
    },
    404,
    409,
  ),
  deliveries: apiRoute(
    {
      method: "get",
      access: "admin",
      path: `${base}/{webhook_id}/deliveries`,
      operationId: "webhooks.deliveries",
      tags,
      summary: "The endpoint's delivery log, newest first: status, attempts, last response code and duration, next attempt",
      request: { params: HookParam, query: DeliveriesQuery },
      responses: { 200: pagedResponse(WebhookDelivery, "Deliveries, newest first") },
    },
    404,
  ),
  delivery: apiRoute(
    {
      method: "get",
      access: "admin",
      path: `${base}/{webhook_id}/deliveries/{delivery_id}`,
      operationId: "webhooks.delivery",
      tags,
      summary: "One delivery, with every attempt's response code, error and duration",
      request: { params: DeliveryParam },
      responses: { 200: jsonResponse(WebhookDeliveryDetail, "The delivery") },
    },
    404,
  ),
  redeliver: apiRoute(
    {
      method: "post",
      access: "admin",
      path: `${base}/{webhook_id}/deliveries/{delivery_id}/redeliver`,
      operationId: "webhooks.redeliver",
      tags,
      summary: "Send a delivery again now, with the same webhook-id",
      request: { params: DeliveryParam },
      responses: { 202: jsonResponse(WebhookDelivery, "The delivery, pending") },
    },
    404,
    409,
  ),
};

export function registerWebhookRoutes(app: Api) {
  app.openapi(routes.list, async (c) => c.json(await listWebhooks({ ctx: c.var.ctx }), 200));
  app.openapi(routes.create, async (c) => c.json(await createWebhook({ ctx: c.var.ctx, input: c.req.valid("json") }), 201));
  app.openapi(routes.get, async (c) => c.json(await getWebhook({ ctx: c.var.ctx, id: c.req.valid("param").webhook_id }), 200));
  app.openapi(routes.update, async (c) =>
    c.json(await updateWebhook({ ctx: c.var.ctx, id: c.req.valid("param").webhook_id, input: c.req.valid("json") }), 200),
  );
  app.openapi(routes.remove, async (c) => c.json(await deleteWebhook({ ctx: c.var.ctx, id: c.req.valid("param").webhook_id }), 200));
  app.openapi(routes.test, async (c) => c.json(await testWebhook({ ctx: c.var.ctx, id: c.req.valid("param").webhook_id }), 202));
  app.openapi(routes.deliveries, async (c) =>
    respondPage(c, await listDeliveries({ ctx: c.var.ctx, id: c.req.valid("param").webhook_id, query: c.req.valid("query") })),
  );
  app.openapi(routes.delivery, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    return c.json(await getDelivery({ ctx: c.var.ctx, id: webhook_id, deliveryId: delivery_id }), 200);
  });
  app.openapi(routes.redeliver, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    return c.json(await redeliver({ ctx: c.var.ctx, id: webhook_id, deliveryId: delivery_id }), 202);
  });
}
