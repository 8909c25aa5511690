/**
 * Every setting the server reads from its environment, parsed once. The README's
 * configuration table documents each variable named here.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import ipaddr from "ipaddr.js";

export interface OpencodeSettings {
  /** Where an already running `opencode serve` is expected (OPENCODE_HOST / OPENCODE_PORT). */
  host: string;
  port: number;
  /** Start `opencode serve` ourselves when nothing answers there (OPENCODE_AUTO_START). */
  autoStart: boolean;
  /** Explicit path of the `opencode` binary (OPENCODE_BIN); otherwise PATH, then our own dependency. */
  binary: string | undefined;
  /** OpenCode's SQLite database for an auto-started server (OPENCODE_DB_PATH). */
  dbPath: string | undefined;
  /**
   * Providers and models for the OpenCode we start (CODETETHER_OPENCODE_CONFIG): the path of an
   * `opencode.json`, watched so an edit applies to the next run, or its JSON content inline.
   */
  providerConfig: { file: string } | { content: string } | undefined;
  /**
   * OpenCode's own per-step snapshots (CODETETHER_OPENCODE_SNAPSHOTS), off by default in the OpenCode
   * CodeTether starts: runs keep their changes in their worktree's git history instead, and on a big
   * repository the snapshots cost minutes.
   */
  snapshots: boolean;
}

/** Where runs' worktrees live and how much of them is kept (see services/worktrees). */
export interface WorktreeSettings {
  /** The directory CodeTether owns for worktrees (CODETETHER_WORKTREE_DIR); unset: `<data dir>/worktrees` (see `worktreeRoot`). */
  dir: string | undefined;
  /** Worktrees kept prepared per repository (CODETETHER_WORKTREE_POOL). */
  poolSize: number;
  /** Hours an ended run's worktree is kept before it is removed, its branch staying (CODETETHER_WORKTREE_TTL_HOURS). */
  ttlHours: number;
  /** Disk one codebase's worktrees may take; past it the oldest ended ones go first (CODETETHER_WORKTREE_QUOTA_GB). */
  quotaBytes: number;
  /** Bytes of a run's patch stored; larger diffs keep whole files up to it and say so (CODETETHER_DIFF_MAX_BYTES). */
  diffMaxBytes: number;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  apiKey: string | undefined;
  workerToken: string | undefined;
  /** Browser origins allowed to call /v1 and /trpc (CODETETHER_CORS_ORIGINS); empty: none, same origin only. */
  corsOrigins: string[];
  /** Largest request body accepted, in bytes (CODETETHER_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** Socket limits, so silent, slow or piled-up connections cannot exhaust the process (see server.ts). */
  http: {
    /** A connection must have sent its request headers within this (CODETETHER_HEADERS_TIMEOUT_SECONDS). */
    headersTimeoutSeconds: number;
    /** ...and its whole request, body included (CODETETHER_REQUEST_TIMEOUT_SECONDS). */
    requestTimeoutSeconds: number;
    /** An idle keep-alive connection is closed after this (CODETETHER_KEEPALIVE_TIMEOUT_SECONDS). */
    keepAliveTimeoutSeconds: number;
    /** Open connections at most; more are refused at once (CODETETHER_MAX_CONNECTIONS). */
    maxConnections: number;
    /** Event streams (SSE and subscriptions) open at most; more get a 503 with Retry-After (CODETETHER_MAX_STREAMS). */
    maxStreams: number;
  };
  /** Log level (LOG_LEVEL: trace, debug, info, warn, error, fatal or silent). */
  logLevel: LogLevel;
  /** When set, GET /metrics needs `Authorization: Bearer <token>` (CODETETHER_METRICS_TOKEN); otherwise it takes the API key. */
  metricsToken: string | undefined;
  /** Bytes of recent events held per followed stream, shared by its followers (CODETETHER_STREAM_WINDOW_BYTES). */
  streamWindowBytes: number;
  /** How long a claimed task stays leased without a heartbeat (CODETETHER_TASK_LEASE_SECONDS). */
  leaseSeconds: number;
  /** How many bytes of a run's events are held while the database is unavailable (CODETETHER_RUN_BUFFER_BYTES). */
  runBufferBytes: number;
  /** US dollars any one run may cost, whatever its codebase allows (CODETETHER_MAX_COST_PER_RUN_USD); undefined: no cap. */
  maxCostPerRunUsd: number | undefined;
  /** Events of finished runs older than this many days are pruned (CODETETHER_EVENT_RETENTION_DAYS); undefined: kept. */
  eventRetentionDays: number | undefined;
  /** Tasks the server's own runner runs at once for codebases without a worker (CODETETHER_LOCAL_CONCURRENCY; 0 = none). */
  localConcurrency: number;
  worktrees: WorktreeSettings;
  webhooks: WebhookSettings;
  /** The server's address as its users reach it (CODETETHER_PUBLIC_URL), which makes webhooks' links absolute; undefined: links are paths. */
  publicUrl: string | undefined;
  opencode: OpencodeSettings;
}

export interface WebhookSettings {
  /** How long one delivery attempt may take, response included (CODETETHER_WEBHOOK_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** The wait before the first retry (CODETETHER_WEBHOOK_FIRST_RETRY_MS); it doubles each time, up to an hour, with jitter. */
  firstRetryMs: number;
  /** How long a failing delivery is retried, and an always failing endpoint kept enabled (CODETETHER_WEBHOOK_RETRY_HOURS). */
  retryWindowMs: number;
  /** Private, loopback or link-local addresses (CIDRs) webhooks may still reach (CODETETHER_WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: string[];
}

/** Where the server keeps its runs' worktrees. */
export function worktreeRoot(config: Pick<Config, "dataDir" | "worktrees">): string {
  return config.worktrees.dir ?? path.join(config.dataDir, "worktrees");
}

/** The worktree settings from the environment. */
function worktreeSettings(env: NodeJS.ProcessEnv): WorktreeSettings {
  const quotaGb = positive("CODETETHER_WORKTREE_QUOTA_GB", env.CODETETHER_WORKTREE_QUOTA_GB, 1_000_000) ?? 20;
  return {
    dir: nonEmpty(env.CODETETHER_WORKTREE_DIR) === undefined ? undefined : path.resolve(nonEmpty(env.CODETETHER_WORKTREE_DIR)!),
    poolSize: int("CODETETHER_WORKTREE_POOL", env.CODETETHER_WORKTREE_POOL, 1, 0, 16),
    ttlHours: positive("CODETETHER_WORKTREE_TTL_HOURS", env.CODETETHER_WORKTREE_TTL_HOURS, 87_600) ?? 72,
    quotaBytes: Math.round(quotaGb * 1024 ** 3),
    diffMaxBytes: int("CODETETHER_DIFF_MAX_BYTES", env.CODETETHER_DIFF_MAX_BYTES, 2 * 1024 * 1024, 4096, 64 * 1024 * 1024),
  };
}

function bool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value.trim() === "") return fallback;
  return !["0", "false", "no", "off"].includes(value.trim().toLowerCase());
}

function int(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** A positive amount (dollars, days), or undefined when unset. */
function positive(name: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`${name} must be a number above 0 and at most ${max}, got "${value}"`);
  return n;
}

/** A comma-separated list of IP addresses and CIDRs. */
function addressList(name: string, value: string | undefined): string[] {
  const list = (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    const ok = entry.includes("/") ? ipaddr.isValidCIDR(entry) : ipaddr.isValid(entry);
    if (!ok) throw new Error(`${name}: "${entry}" is not an IP address or a CIDR like 10.0.0.0/8`);
  }
  return list;
}

/** CODETETHER_PUBLIC_URL: an http(s) origin, maybe with a path prefix; no trailing slash. */
function publicUrl(value: string | undefined): string | undefined {
  const v = nonEmpty(value);
  if (!v) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error(`CODETETHER_PUBLIC_URL: "${v}" is not a URL like https://codetether.example.com`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`CODETETHER_PUBLIC_URL must be http or https, got "${v}"`);
  return v.replace(/\/+$/, "");
}

const nonEmpty = (v: string | undefined) => (v && v.trim() !== "" ? v.trim() : undefined);

/**
 * A secret: unset or empty means none, but a value of only whitespace is a mistake
 * (a quoting slip in a unit file, say) that must not quietly turn auth off.
 */
function secret(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && value !== "" && value.trim() === "") {
    throw new Error(`${name} is set but blank (only whitespace): set a real key, or unset it to run without one`);
  }
  return nonEmpty(value);
}

/** CODETETHER_OPENCODE_CONFIG: inline JSON when it starts with `{`, else a file path (which must exist). */
export function parseProviderConfig(value: string | undefined): OpencodeSettings["providerConfig"] {
  const v = nonEmpty(value);
  if (!v) return undefined;
  if (v.startsWith("{")) {
    try {
      JSON.parse(v);
    } catch (err) {
      throw new Error(`CODETETHER_OPENCODE_CONFIG looks like inline JSON but does not parse: ${(err as Error).message}`);
    }
    return { content: v };
  }
  const file = path.resolve(v);
  if (!existsSync(file)) throw new Error(`CODETETHER_OPENCODE_CONFIG names a file that does not exist: ${file}`);
  return { file };
}

/** CODETETHER_CORS_ORIGINS: comma-separated origins, or `*` (any origin, only without an API key). */
function corsOrigins(value: string | undefined, apiKey: string | undefined): string[] {
  const list = (value ?? "")
    .split(",")
    .map((o) => o.trim().replace(/\/+$/, ""))
    .filter(Boolean);
  if (list.includes("*")) {
    if (apiKey) throw new Error("CODETETHER_CORS_ORIGINS=* is refused while CODETETHER_API_KEY is set: list the origins that may call the API");
    return ["*"];
  }
  for (const origin of list) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new Error(`CODETETHER_CORS_ORIGINS: "${origin}" is not an origin like https://app.example.com`);
    }
    if (url.origin !== origin)
      throw new Error(`CODETETHER_CORS_ORIGINS: "${origin}" is not an origin (scheme, host and port only), did you mean ${url.origin}?`);
  }
  return list;
}

const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

/** LOG_LEVEL, checked: a typo is a start-up error, not silence. */
export function logLevel(value: string | undefined): LogLevel {
  const level = (value ?? "").trim().toLowerCase() || "info";
  if (!(logLevels as readonly string[]).includes(level)) throw new Error(`LOG_LEVEL must be one of ${logLevels.join(", ")}, got "${value}"`);
  return level as LogLevel;
}

/** Reads the configuration; throws a readable Error for a malformed value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Pick<Config, "host" | "port">> = {}): Config {
  const apiKey = secret("CODETETHER_API_KEY", env.CODETETHER_API_KEY);
  return {
    host: overrides.host ?? nonEmpty(env.CODETETHER_HOST) ?? "127.0.0.1",
    port: overrides.port ?? int("CODETETHER_PORT", env.CODETETHER_PORT, 8000, 0, 65535),
    dataDir: path.resolve(nonEmpty(env.CODETETHER_DATA_DIR) ?? "./data"),
    databaseUrl: nonEmpty(env.DATABASE_URL),
    apiKey,
    corsOrigins: corsOrigins(env.CODETETHER_CORS_ORIGINS, apiKey),
    workerToken: secret("CODETETHER_WORKER_TOKEN", env.CODETETHER_WORKER_TOKEN),
    maxBodyBytes: int("CODETETHER_MAX_BODY_BYTES", env.CODETETHER_MAX_BODY_BYTES, 1024 * 1024, 1024, 64 * 1024 * 1024),
    http: {
      headersTimeoutSeconds: int("CODETETHER_HEADERS_TIMEOUT_SECONDS", env.CODETETHER_HEADERS_TIMEOUT_SECONDS, 10, 1, 600),
      requestTimeoutSeconds: int("CODETETHER_REQUEST_TIMEOUT_SECONDS", env.CODETETHER_REQUEST_TIMEOUT_SECONDS, 30, 1, 3600),
      keepAliveTimeoutSeconds: int("CODETETHER_KEEPALIVE_TIMEOUT_SECONDS", env.CODETETHER_KEEPALIVE_TIMEOUT_SECONDS, 5, 1, 600),
      maxConnections: int("CODETETHER_MAX_CONNECTIONS", env.CODETETHER_MAX_CONNECTIONS, 1000, 1, 1_000_000),
      maxStreams: int("CODETETHER_MAX_STREAMS", env.CODETETHER_MAX_STREAMS, 800, 1, 1_000_000),
    },
    logLevel: logLevel(env.LOG_LEVEL),
    metricsToken: secret("CODETETHER_METRICS_TOKEN", env.CODETETHER_METRICS_TOKEN),
    streamWindowBytes: int("CODETETHER_STREAM_WINDOW_BYTES", env.CODETETHER_STREAM_WINDOW_BYTES, 4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    leaseSeconds: int("CODETETHER_TASK_LEASE_SECONDS", env.CODETETHER_TASK_LEASE_SECONDS, 15, 2, 3600),
    maxCostPerRunUsd: positive("CODETETHER_MAX_COST_PER_RUN_USD", env.CODETETHER_MAX_COST_PER_RUN_USD, 1_000_000),
    eventRetentionDays: positive("CODETETHER_EVENT_RETENTION_DAYS", env.CODETETHER_EVENT_RETENTION_DAYS, 36_500),
    runBufferBytes: int("CODETETHER_RUN_BUFFER_BYTES", env.CODETETHER_RUN_BUFFER_BYTES, 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    localConcurrency: int("CODETETHER_LOCAL_CONCURRENCY", env.CODETETHER_LOCAL_CONCURRENCY, 1, 0, 64),
    worktrees: worktreeSettings(env),
    webhooks: {
      timeoutMs: int("CODETETHER_WEBHOOK_TIMEOUT_SECONDS", env.CODETETHER_WEBHOOK_TIMEOUT_SECONDS, 10, 1, 300) * 1000,
      firstRetryMs: int("CODETETHER_WEBHOOK_FIRST_RETRY_MS", env.CODETETHER_WEBHOOK_FIRST_RETRY_MS, 5000, 10, 3_600_000),
      retryWindowMs: Math.round((positive("CODETETHER_WEBHOOK_RETRY_HOURS", env.CODETETHER_WEBHOOK_RETRY_HOURS, 24 * 30) ?? 24) * 3_600_000),
      allowPrivate: addressList("CODETETHER_WEBHOOK_ALLOW_PRIVATE", env.CODETETHER_WEBHOOK_ALLOW_PRIVATE),
    },
    publicUrl: publicUrl(env.CODETETHER_PUBLIC_URL),
    opencode: {
      host: nonEmpty(env.OPENCODE_HOST) ?? "localhost",
      port: int("OPENCODE_PORT", env.OPENCODE_PORT, 9777, 1, 65535),
      autoStart: bool(env.OPENCODE_AUTO_START, true),
      binary: nonEmpty(env.OPENCODE_BIN),
      dbPath: nonEmpty(env.OPENCODE_DB_PATH),
      providerConfig: parseProviderConfig(env.CODETETHER_OPENCODE_CONFIG),
      snapshots: bool(env.CODETETHER_OPENCODE_SNAPSHOTS, false),
    },
  };
}
