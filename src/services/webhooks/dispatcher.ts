/**
 * Sends what the outbox holds. Every server process runs one: it leases due deliveries with `skip locked` (so
 * two processes never take the same one), sends each once per lease, and records the outcome only if its lease
 * still holds (the attempt number fences it), so a process that stalled past its lease cannot overwrite the
 * attempt another made meanwhile. A process killed mid-attempt leaves a lease that lapses; the delivery is then
 * sent again with the same `webhook-id` (at least once). Failures are retried with exponential backoff and
 * jitter for the retry window; an endpoint that fails for the whole window is disabled and an admin told.
 */
import { sql } from "drizzle-orm";
import { isDatabaseUnavailable } from "../../contracts/errors.js";
import { rowsOf, type Unlisten } from "../../db/client.js";
import { webhookAttempts } from "../../db/schema.js";
import { recordAudit } from "../access/audit.js";
import type { ServiceContext } from "../context.js";
import { webhooksChannel } from "./outbox.js";
import { AddressPolicy, type SendResult, sendWebhook } from "./send.js";

/** Attempts one process has in flight at most. */
const maxInFlight = 8;
/** How often due retries are looked for when nothing wakes the dispatcher sooner. */
const pollMs = 1000;
/** The longest wait between two attempts. */
const maxRetryDelayMs = 3_600_000;
/** A lease outlives the attempt's own time limit by this much (a slow commit, a busy event loop). */
const leaseMarginMs = 5000;

interface Leased {
  id: string;
  attempts: number;
  payload: unknown;
  created_at: Date | string;
  endpoint_id: string;
  url: string;
  secret: string;
}

/** The wait before attempt `attempt + 1`: doubling from the first retry's, capped, with ±25 % jitter. */
function retryDelayMs(attempt: number, firstRetryMs: number): number {
  const base = Math.min(maxRetryDelayMs, firstRetryMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** `data.links` made absolute when the server knows its public address. */
function bodyOf(payload: unknown, publicUrl: string | undefined): string {
  if (!publicUrl) return JSON.stringify(payload);
  const p = payload as { data?: { links?: Record<string, string> } };
  const links = p.data?.links;
  if (!links) return JSON.stringify(payload);
  const absolute = Object.fromEntries(Object.entries(links).map(([k, v]) => [k, `${publicUrl}${v}`]));
  return JSON.stringify({ ...p, data: { ...p.data, links: absolute } });
}

export class WebhookDispatcher {
  private inFlight = 0;
  private ticking = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: Unlisten | undefined;
  private readonly stopping = new AbortController();
  private readonly sending = new Set<Promise<void>>();
  /** Made once: the allowed ranges are settings, parsed when the process starts. */
  private policy: AddressPolicy | undefined;

  constructor(private readonly ctx: () => ServiceContext) {}

  async start(): Promise<void> {
    this.unlisten = await this.ctx().database.listen(webhooksChannel, () => this.wake());
    this.timer = setInterval(() => this.wake(), pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Stops taking deliveries and cuts the attempts in flight short (their leases lapse; another process retries them). */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.timer);
    await this.unlisten?.().catch(() => {});
    await Promise.allSettled([...this.sending]);
  }

  /** Looks for due deliveries now (several wakes at once make one look, and one more after it). */
  wake(): void {
    if (this.stopping.signal.aborted) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    void this.tick().finally(() => {
      this.ticking = false;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async tick(): Promise<void> {
    const free = maxInFlight - this.inFlight;
    if (free <= 0) return;
    let leased: Leased[];
    try {
      leased = await this.lease(free);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) this.ctx().log.error({ err }, "leasing webhook deliveries failed");
      return;
    }
    for (const delivery of leased) {
      this.inFlight++;
      const sent: Promise<void> = this.deliver(delivery)
        .catch((err) => this.ctx().log.error({ err, delivery_id: delivery.id }, "recording a webhook attempt failed"))
        .finally(() => {
          this.inFlight--;
          this.sending.delete(sent);
          this.wake();
        });
      this.sending.add(sent);
    }
  }

  private async lease(max: number): Promise<Leased[]> {
    const ctx = this.ctx();
    const leaseMs = ctx.config.webhooks.timeoutMs + leaseMarginMs;
    const result = await ctx.database.db.execute(sql`
      update webhook_deliveries d
      set attempts = d.attempts + 1, lease_until = now() + make_interval(secs => ${leaseMs / 1000}), leased_by = ${ctx.instanceId}
      from webhook_endpoints w
      where w.id = d.endpoint_id and d.id = any(array(
        select x.id from webhook_deliveries x
        join webhook_endpoints e on e.id = x.endpoint_id and e.disabled_at is null
        where x.status = 'pending' and x.next_attempt_at <= now() and (x.lease_until is null or x.lease_until < now())
        order by x.next_attempt_at
        limit ${max}
        for update of x skip locked))
      returning d.id, d.attempts, d.payload, d.created_at, d.endpoint_id, w.url, w.secret`);
    return rowsOf<Leased>(result);
  }

  private async deliver(d: Leased): Promise<void> {
    const ctx = this.ctx();
    const { timeoutMs, allowPrivate } = ctx.config.webhooks;
    this.policy ??= new AddressPolicy(allowPrivate);
    const payload = typeof d.payload === "string" ? JSON.parse(d.payload) : d.payload;
    const result = await sendWebhook(
      { url: d.url, secret: d.secret },
      { id: d.id, body: bodyOf(payload, ctx.config.publicUrl) },
      { timeoutMs, policy: this.policy, userAgent: "CodeTether-Webhooks/1", signal: this.stopping.signal },
    );
    // Cut short by this process stopping: nothing is known of the attempt, so its lease lapses and it is retried.
    if (this.stopping.signal.aborted && result.statusCode === null) return;
    ctx.metrics.webhookDeliveries.inc({ outcome: result.error ? "failed" : "succeeded" });
    await this.record(d, result);
  }

  private async record(d: Leased, result: SendResult): Promise<void> {
    const ctx = this.ctx();
    const { firstRetryMs, retryWindowMs } = ctx.config.webhooks;
    const ok = result.error === null;
    const age = Date.now() - new Date(d.created_at).getTime();
    const delay = retryDelayMs(d.attempts, firstRetryMs);
    const status = ok ? "succeeded" : age + delay > retryWindowMs ? "failed" : "pending";
    await ctx.database.db.transaction(async (tx) => {
      const fenced = rowsOf(
        await tx.execute(sql`
          update webhook_deliveries set
            status = ${status},
            next_attempt_at = now() + make_interval(secs => ${ok ? 0 : delay / 1000}),
            lease_until = null, leased_by = null,
            last_status_code = ${result.statusCode}, last_error = ${result.error}, last_duration_ms = ${result.durationMs},
            delivered_at = ${ok ? sql`now()` : sql`delivered_at`}
          where id = ${d.id} and attempts = ${d.attempts} and leased_by = ${ctx.instanceId}
          returning id`),
      );
      // The lease lapsed and another process took the delivery: its attempt is the one on record.
      if (fenced.length === 0) return;
      await tx.insert(webhookAttempts).values({
        deliveryId: d.id,
        attempt: d.attempts,
        statusCode: result.statusCode,
        error: result.error,
        durationMs: result.durationMs,
        sentBy: ctx.instanceId,
      });
      if (ok) {
        await tx.execute(sql`update webhook_endpoints set failing_since = null where id = ${d.endpoint_id} and failing_since is not null`);
        return;
      }
      if (status === "failed")
        ctx.log.warn({ delivery_id: d.id, webhook_id: d.endpoint_id, attempts: d.attempts }, "webhook delivery given up after its retry window");
      // Failing for the whole window: failures began a window ago and none succeeded since; or this delivery was just
      // given up and nothing sent to the endpoint succeeded since it was made. (The second catches a burst of events
      // followed by silence: each delivery's last attempt comes before its window ends, so no attempt may ever come
      // a whole window after the endpoint's first failure.) A delivery created a window before this one's had been
      // given up before this one was made, so only those since are looked at.
      const window = sql`make_interval(secs => ${retryWindowMs / 1000})`;
      const givenUpWithoutSuccess =
        status === "failed"
          ? sql` or not exists (
              select 1 from webhook_deliveries g join webhook_deliveries s on s.endpoint_id = g.endpoint_id
              where g.id = ${d.id} and s.created_at >= g.created_at - ${window} and s.delivered_at >= g.created_at)`
          : sql``;
      // Worked out once (from the row as it was), then used by each column it decides.
      const disabled = rowsOf<{ url: string; disabled: boolean }>(
        await tx.execute(sql`
          update webhook_endpoints e set
            failing_since = coalesce(e.failing_since, now()),
            updated_at = case when w.whole then now() else e.updated_at end,
            disabled_at = case when w.whole then now() end,
            disabled_reason = case when w.whole
              then ${`every delivery failed for the whole retry window; the last: ${result.error}`} end
          from (select (failing_since <= now() - ${window}${givenUpWithoutSuccess}) as whole
                from webhook_endpoints where id = ${d.endpoint_id}) w
          where e.id = ${d.endpoint_id} and e.disabled_at is null
          returning e.url, e.disabled_at is not null as disabled`),
      ).filter((r) => r.disabled);
      if (disabled.length > 0) {
        await recordAudit(tx, ctx, {
          action: "webhook.disabled",
          targetType: "webhook",
          targetId: d.endpoint_id,
          detail: { reason: "failing for the whole retry window", last_error: result.error },
        });
        ctx.log.error({ webhook_id: d.endpoint_id, url: disabled[0]!.url, last_error: result.error }, "webhook disabled: it failed for the whole retry window");
      }
    });
  }
}
