/**
 * One webhook request: signed as Standard Webhooks says (so any of its verifier libraries checks it), sent with
 * bounded time and response size, never following a redirect, and only to addresses the policy allows: an
 * endpoint may not reach loopback, link-local or private networks (the server's own metadata service, a
 * database next to it) unless an admin listed them in CODETETHER_WEBHOOK_ALLOW_PRIVATE. The check runs on the
 * addresses the name resolves to at connect time, so a name that later points inward is refused too.
 */
import { createHmac, randomBytes } from "node:crypto";
import { type LookupAddress, type LookupAllOptions, type LookupOptions, lookup } from "node:dns";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/** A new endpoint secret: `whsec_` and 24 random bytes in base64, as Standard Webhooks' libraries expect. */
export const newWebhookSecret = () => `whsec_${randomBytes(24).toString("base64")}`;

/** The `webhook-signature` header for a message: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`. */
function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** Which addresses webhooks may reach: public unicast ones, and the ranges an admin allowed. */
export class AddressPolicy {
  private readonly allowed: [ipaddr.IPv4 | ipaddr.IPv6, number][];

  /** `allow`: CIDRs or single addresses (CODETETHER_WEBHOOK_ALLOW_PRIVATE, comma-separated). */
  constructor(allow: readonly string[]) {
    this.allowed = allow.map((entry) =>
      entry.includes("/") ? ipaddr.parseCIDR(entry) : [ipaddr.parse(entry), ipaddr.parse(entry).kind() === "ipv4" ? 32 : 128],
    );
  }

  /** Why `address` may not be reached, or null when it may. */
  refusal(address: string): string | null {
    let ip: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(address);
    if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
    if (this.allowed.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return null;
    const range = ip.range();
    return range === "unicast" ? null : `${address} is a ${range} address (allow it with CODETETHER_WEBHOOK_ALLOW_PRIVATE)`;
  }
}

class RefusedAddress extends Error {}

/** A `lookup` for http.request that refuses a name resolving to any address the policy forbids. */
function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: LookupOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    lookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const why = policy.refusal(a.address);
        if (why) return callback(new RefusedAddress(`${hostname} resolves to ${why}`), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(new Error(`${hostname} has no address`), []);
      callback(null, first.address, first.family);
    });
  };
}

/** Whether `url` is one a webhook may be sent to as far as can be told without resolving it. */
export function urlRefusal(url: URL, policy: AddressPolicy): string | null {
  if (url.protocol !== "https:" && url.protocol !== "http:") return "the URL must be http or https";
  if (url.username || url.password) return "the URL must not carry a user name or password (the signature authenticates the sender)";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host)) return policy.refusal(host);
  if (host === "localhost" || host.endsWith(".localhost")) return policy.refusal("127.0.0.1");
  return null;
}

export interface SendResult {
  statusCode: number | null;
  /** Why it did not succeed (null on a 2xx). */
  error: string | null;
  durationMs: number;
}

/** The most of a response body kept (for the delivery log); the rest is not read. */
const keptResponseBytes = 1024;

/** POSTs one signed message; resolves (never rejects) with what happened. */
export function sendWebhook(
  target: { url: string; secret: string },
  message: { id: string; body: string },
  options: { timeoutMs: number; policy: AddressPolicy; userAgent: string; signal?: AbortSignal },
): Promise<SendResult> {
  const started = performance.now();
  const done = (statusCode: number | null, error: string | null): SendResult => ({ statusCode, error, durationMs: Math.round(performance.now() - started) });
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      return resolve(done(null, "the endpoint's URL does not parse"));
    }
    const refused = urlRefusal(url, options.policy);
    if (refused) return resolve(done(null, `refused: ${refused}`));
    const timestamp = Math.floor(Date.now() / 1000);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        method: "POST",
        agent: false,
        lookup: guardedLookup(options.policy),
        signal: options.signal ? AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.signal]) : AbortSignal.timeout(options.timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": options.userAgent,
          "webhook-id": message.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signWebhook(target.secret, message.id, timestamp, message.body),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let kept = 0;
        const finish = () => {
          res.destroy();
          const text = Buffer.concat(chunks).toString("utf8").slice(0, keptResponseBytes);
          if (status >= 200 && status < 300) return resolve(done(status, null));
          if (status >= 300 && status < 400)
            return resolve(done(status, `answered ${status}: redirects are not followed (Location: ${res.headers.location ?? "none"})`));
          resolve(done(status, `answered ${status}${text ? `: ${text}` : ""}`));
        };
        res.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          kept += chunk.length;
          if (kept >= keptResponseBytes) finish();
        });
        res.on("end", finish);
        res.on("error", finish);
      },
    );
    req.on("error", (err) => {
      const name = (err as Error).name;
      if (name === "TimeoutError" || name === "AbortError") return resolve(done(null, `no answer within ${options.timeoutMs} ms`));
      resolve(done(null, err instanceof RefusedAddress ? `refused: ${err.message}` : (err as Error).message));
    });
    req.end(message.body);
  });
}
