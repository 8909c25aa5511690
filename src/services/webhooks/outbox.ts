/**
 * The webhook outbox: a delivery row per interested endpoint, written in the same transaction as the change that
 * causes it, so a crash loses none and a rollback sends none. Agent events add theirs inside the append statement
 * itself (`deliveriesOfEvents`, no extra round trip); other changes (a worker going offline, a test) call
 * `enqueueWebhooks`. Writing one NOTIFYs every server process's dispatcher.
 */
import { type SQL, sql } from "drizzle-orm";
import { type Db, rowsOf } from "../../db/client.js";
import type { WebhookMessage } from "./webhook-events.js";

export const webhooksChannel = "codetether_webhooks";

const newDeliveryId = sql`'msg_' || replace(gen_random_uuid()::text, '-', '')`;

/** Endpoints that want `type` about `codebaseId` (an endpoint without a codebase filter wants every codebase). */
const wants = (type: SQL, codebaseId: SQL) =>
  sql`w.disabled_at is null and w.event_types @> jsonb_build_array(${type}) and (w.codebase_ids is null or ${codebaseId} is null or w.codebase_ids @> jsonb_build_array(${codebaseId}))`;

const envelope = (m: WebhookMessage) => ({ type: m.type, timestamp: new Date().toISOString(), data: m.data });

/**
 * A CTE for the append statement (see events/append.ts): one delivery per endpoint and message, the message's
 * `data.event_id` set to its event's seq (`fresh` and `bumped` are that statement's CTEs). Null when no message.
 */
export function deliveriesOfEvents(streamId: string, messages: { ord: number; message: WebhookMessage }[]): SQL | null {
  if (messages.length === 0) return null;
  const rows = JSON.stringify(messages.map(({ ord, message }) => ({ ord, type: message.type, payload: envelope(message) })));
  return sql`, deliveries as (
      insert into webhook_deliveries (id, endpoint_id, event_type, payload)
      select ${newDeliveryId}, w.id, h.type, jsonb_set(h.payload, '{data,event_id}', to_jsonb(bumped.head - fresh.total + fresh.n))
      from jsonb_to_recordset(${rows}::jsonb) as h(ord int, type text, payload jsonb)
      join fresh on fresh.ord = h.ord
      cross join bumped
      join webhook_endpoints w on ${wants(sql`h.type`, sql`${streamId}::text`)}
      returning pg_notify(${webhooksChannel}, '')
    )`;
}

/** Writes the deliveries of `messages` inside `tx`; answers how many were written. */
export async function enqueueWebhooks(tx: Db, messages: readonly WebhookMessage[], endpointId?: string): Promise<number> {
  let written = 0;
  for (const m of messages) {
    const rows = await tx.execute(sql`
      insert into webhook_deliveries (id, endpoint_id, event_type, payload)
      select ${newDeliveryId}, w.id, ${m.type}, ${JSON.stringify(envelope(m))}::jsonb
      from webhook_endpoints w
      where ${endpointId ? sql`w.id = ${endpointId}` : wants(sql`${m.type}::text`, sql`${m.codebaseId}::text`)}
      returning pg_notify(${webhooksChannel}, '')`);
    written += rowsOf(rows).length;
  }
  return written;
}
