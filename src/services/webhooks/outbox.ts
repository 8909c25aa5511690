/**
 * The webhook outbox: a delivery row per interested endpoint, written in the same transaction as the change that
 * causes it, so a crash loses none and a rollback sends none. Agent events add theirs inside the append statement
 * itself (`deliveriesCte`, no extra round trip); other changes (a worker going offline, a test) call
 * `enqueueWebhooks`. Writing one NOTIFYs every server process's dispatcher.
 */
import { type SQL, sql } from "drizzle-orm";
import { type Db, rowsOf } from "../../db/client.js";
import { value } from "../../db/compiled.js";
import type { WebhookMessage } from "./webhook-events.js";

export const webhooksChannel = "codetether_webhooks";

const newDeliveryId = sql`'msg_' || replace(gen_random_uuid()::text, '-', '')`;

/** Endpoints that want `type` about `codebaseId` (an endpoint without a codebase filter wants every codebase). */
const wants = (type: SQL, codebaseId: SQL) =>
  sql`w.disabled_at is null and w.event_types @> jsonb_build_array(${type}) and (w.codebase_ids is null or ${codebaseId} is null or w.codebase_ids @> jsonb_build_array(${codebaseId}))`;

const envelope = (m: WebhookMessage) => ({ type: m.type, timestamp: new Date().toISOString(), data: m.data });

/**
 * A CTE for the append statement (see events/append.ts): one delivery per endpoint and message, the message's
 * `data.event_id` set to its event's seq (`appended` is that statement's CTE of stored events; a message whose
 * event was not stored, an upload already stored, sends nothing). The messages are its `deliveries` value
 * (`deliveryRows`).
 */
export const deliveriesCte = sql`, deliveries as (
      insert into webhook_deliveries (id, endpoint_id, event_type, payload)
      select ${newDeliveryId}, w.id, h.type, jsonb_set(h.payload, '{data,event_id}', to_jsonb(a.seq))
      from jsonb_to_recordset(${value("deliveries")}::jsonb) as h(ord int, type text, payload jsonb)
      join appended a on a.ord = h.ord
      join webhook_endpoints w on ${wants(sql`h.type`, sql`a.stream_id`)}
      returning pg_notify(${webhooksChannel}, '')
    )`;

/** The `deliveries` value of `deliveriesCte`: each message with the `ord` of the event it is about. Null when none. */
export function deliveryRows(messages: { ord: number; message: WebhookMessage }[]): string | null {
  if (messages.length === 0) return null;
  return JSON.stringify(messages.map(({ ord, message }) => ({ ord, type: message.type, payload: envelope(message) })));
}

/**
 * Writes the deliveries of `messages` inside `tx`, in one statement (to `endpointId` alone when given, whatever it
 * subscribed to: a test message); answers the deliveries' ids.
 */
export async function enqueueWebhooks(tx: Db, messages: readonly WebhookMessage[], endpointId?: string): Promise<string[]> {
  if (messages.length === 0) return [];
  const rows = JSON.stringify(messages.map((m) => ({ type: m.type, codebase_id: m.codebaseId, payload: envelope(m) })));
  const written = await tx.execute(sql`
    insert into webhook_deliveries (id, endpoint_id, event_type, payload)
    select ${newDeliveryId}, w.id, h.type, h.payload
    from jsonb_to_recordset(${rows}::jsonb) as h(type text, codebase_id text, payload jsonb)
    join webhook_endpoints w on ${endpointId ? sql`w.id = ${endpointId}` : wants(sql`h.type`, sql`h.codebase_id`)}
    returning id, pg_notify(${webhooksChannel}, '')`);
  return rowsOf<{ id: string }>(written).map((r) => r.id);
}
