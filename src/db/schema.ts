/**
 * The whole product's schema in one place. Later features extend these tables;
 * every change goes through `npm run db:generate` into `drizzle/`.
 */

import { asc, sql } from "drizzle-orm";
import { bigint, boolean, customType, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import type { AgentConfig } from "../contracts/agent-config.js";
import { defaultAgent } from "../contracts/fields.js";
import type { RunnerModels } from "../contracts/models.js";

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

export const codebases = pgTable("codebases", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  path: text("path").notNull(),
  description: text("description").notNull().default(""),
  workerId: text("worker_id"),
  agentConfig: jsonb("agent_config").$type<AgentConfig>().notNull().default({}),
  /** `git` when the path was a git repository with a commit when last looked at (registration, edits, runs), `none` when not; null: not known here (a worker's). */
  vcs: text("vcs"),
  /** The name of the user who registered it (null: the built-in key, an open server, or a worker). */
  createdBy: text("created_by"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** One OpenCode session, ours or imported; the id is OpenCode's own `ses_…` id so imports are idempotent. */
export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    codebaseId: text("codebase_id")
      .notNull()
      .references(() => codebases.id, { onDelete: "cascade" }),
    title: text("title").notNull().default(""),
    agent: text("agent"),
    model: text("model"),
    /** idle | running | completed | failed | aborted */
    status: text("status").notNull().default("idle"),
    /** codetether | imported */
    source: text("source").notNull().default("codetether"),
    error: text("error"),
    messageCount: integer("message_count").notNull().default(0),
    /**
     * While a run is in flight: the server process running it and when that process
     * last said so. A run whose owner stops beating was lost with its process.
     */
    runOwner: text("run_owner"),
    runHeartbeatAt: timestamp("run_heartbeat_at", { withTimezone: true, mode: "date" }),
    /** The name of the user whose trigger started it (null: the built-in key, an open server, a task's or an import). */
    createdBy: text("created_by"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("sessions_codebase_idx").on(t.codebaseId, t.updatedAt),
    // The Sessions page across codebases: newest activity first.
    index("sessions_updated_idx").on(t.updatedAt, t.id),
    index("sessions_running_idx").on(t.runHeartbeatAt).where(sql`status = 'running'`),
    // `q` on the sessions list: words of the title (built-in full text, so PGlite and any Postgres have it).
    index("sessions_search_idx").using("gin", sql`to_tsvector('simple', ${t.title})`),
  ],
);

/** Messages of a session as OpenCode reports them: role, plain text and the raw parts. */
export const messages = pgTable(
  "messages",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    role: text("role").notNull(),
    text: text("text").notNull().default(""),
    parts: jsonb("parts").$type<unknown[]>().notNull().default([]),
    tokens: jsonb("tokens").$type<Record<string, unknown> | null>(),
    cost: text("cost"),
    createdAt: createdAt(),
  },
  (t) => [index("messages_session_idx").on(t.sessionId, t.createdAt)],
);

export const workers = pgTable("workers", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  /** [{ name, path }] as the worker registered them */
  codebases: jsonb("codebases").$type<{ name: string; path: string }[]>().notNull().default([]),
  concurrency: integer("concurrency").notNull().default(1),
  lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true, mode: "date" }),
  draining: boolean("draining").notNull().default(false),
  /** When a lease of this worker's last lapsed (it stopped renewing): until it is heard from again, it gets no new work. */
  leaseLapsedAt: timestamp("lease_lapsed_at", { withTimezone: true, mode: "date" }),
  /** What the worker's OpenCode can run, as it last reported; null until it has. */
  models: jsonb("models").$type<RunnerModels>(),
  /** When its going offline was announced (worker.offline webhooks); cleared when it is heard from again. */
  offlineNotifiedAt: timestamp("offline_notified_at", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
});

export const tasks = pgTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    codebaseId: text("codebase_id")
      .notNull()
      .references(() => codebases.id, { onDelete: "cascade" }),
    title: text("title").notNull(),
    prompt: text("prompt").notNull(),
    agentType: text("agent_type").notNull().default(defaultAgent),
    model: text("model"),
    /** Larger runs first (10 before 1); ties by created_at, then id. */
    priority: integer("priority").notNull().default(0),
    /** pending | running | completed | failed | cancelled */
    status: text("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    /**
     * Claims so far, never taken back: a hand-back does not count as an attempt, but
     * the next run's uploads must not be mistaken for its (they are deduplicated per claim).
     */
    claims: integer("claims").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull().default(3),
    /** The name of the user who queued it (null: the built-in key or an open server). */
    createdBy: text("created_by"),
    workerId: text("worker_id"),
    leaseToken: text("lease_token"),
    leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true, mode: "date" }),
    runAfter: timestamp("run_after", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    cancelRequested: boolean("cancel_requested").notNull().default(false),
    /** The commit (or ref) its run's worktree starts from; null: the codebase's HEAD when it is claimed. */
    baseRef: text("base_ref"),
    /**
     * `agent` (a prompt for an agent), or work on a run's worktree that only the runner holding it can do:
     * `apply`, `discard`, `push` (with `action`), pinned to that runner by `runner_pin`.
     */
    kind: text("kind").notNull().default("agent"),
    action: jsonb("action").$type<Record<string, unknown>>(),
    runnerPin: text("runner_pin"),
    sessionId: text("session_id"),
    /** The highest worker seq stored for the current attempt (what an upload answers as `acked_through`). */
    uploadedThrough: integer("uploaded_through").notNull().default(0),
    result: text("result"),
    error: text("error"),
    /** One entry per failed attempt: { attempt, worker_id, reason, at }. */
    attemptErrors: jsonb("attempt_errors").$type<{ attempt: number; worker_id: string | null; reason: string; at: string }[]>().notNull().default([]),
    createdAt: createdAt(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
    completedAt: timestamp("completed_at", { withTimezone: true, mode: "date" }),
    updatedAt: updatedAt(),
  },
  (t) => [
    // The queue of each codebase in the order tasks run: a claim reads the heads of its codebases' queues and never
    // the others'. (A queue-wide index of the same order let Postgres walk every codebase's tasks to find none.)
    index("tasks_codebase_runnable_idx").on(t.codebaseId, t.priority.desc(), t.createdAt, t.id).where(sql`status = 'pending'`),
    index("tasks_lease_idx").on(t.leaseExpiresAt).where(sql`status = 'running'`),
    index("tasks_codebase_idx").on(t.codebaseId, t.status),
    // `q` on the tasks list: words of the title and the prompt.
    index("tasks_search_idx").using("gin", sql`to_tsvector('simple', ${t.title} || ' ' || ${t.prompt})`),
  ],
);

/**
 * The order tasks run in: most urgent first, then oldest, then id. Written as `tasks_codebase_runnable_idx` is
 * (drizzle's `.desc()` there is DESC NULLS LAST, and a bare `desc` is NULLS FIRST): an order that differs from the
 * index only in where nulls go (priority has none) cannot be read from it, and a claim then sorts a codebase's whole
 * queue to take one task.
 */
export const urgentFirst = [sql`${tasks.priority} desc nulls last`, asc(tasks.createdAt), asc(tasks.id)];

/**
 * A task waiting for a claim, as `tasks_codebase_runnable_idx` is partial on it: 'pending' in the text, never a
 * parameter. A prepared statement's generic plan can use a partial index only when it can see the condition holds,
 * and with `status = $1` it cannot: it reads and sorts the whole queue instead.
 */
export const waitingForClaim = sql`${tasks.status} = 'pending'`;

/**
 * Per-stream head counter. Event seqs are assigned from it inside the inserting
 * transaction, so they are gap-free and commit-ordered (a bigserial is not a safe cursor).
 */
export const eventStreams = pgTable("event_streams", {
  streamId: text("stream_id").primaryKey(),
  head: bigint("head", { mode: "number" }).notNull().default(0),
  /** Events up to this seq were pruned by retention: a client resuming from before it gets a `reset`. */
  prunedThrough: bigint("pruned_through", { mode: "number" }).notNull().default(0),
});

/** The durable, ordered agent event log: one stream per codebase. */
export const agentEvents = pgTable(
  "agent_events",
  {
    streamId: text("stream_id").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    type: text("type").notNull(),
    sessionId: text("session_id"),
    taskId: text("task_id"),
    data: jsonb("data").$type<Record<string, unknown>>().notNull(),
    /** Set for events uploaded by a runner: (task, attempt, worker_seq) dedupes retried uploads; `attempt` is the task's claim number. */
    attempt: integer("attempt"),
    workerSeq: integer("worker_seq"),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.streamId, t.seq] }),
    // Only a runner's uploads are deduplicated: the events this server writes itself carry no worker_seq.
    uniqueIndex("agent_events_upload_dedupe").on(t.taskId, t.attempt, t.workerSeq).where(sql`worker_seq is not null`),
    index("agent_events_session_idx").on(t.sessionId, t.seq).where(sql`session_id is not null`),
    // One task's history across its attempts (GET /tasks/{id}/events).
    index("agent_events_task_idx").on(t.taskId, t.seq).where(sql`task_id is not null`),
  ],
);

/** The token and cost columns every usage rollup has (sums of `usage` events). */
const usageColumns = () => ({
  inputTokens: bigint("input_tokens", { mode: "number" }).notNull().default(0),
  outputTokens: bigint("output_tokens", { mode: "number" }).notNull().default(0),
  reasoningTokens: bigint("reasoning_tokens", { mode: "number" }).notNull().default(0),
  cacheReadTokens: bigint("cache_read_tokens", { mode: "number" }).notNull().default(0),
  cacheWriteTokens: bigint("cache_write_tokens", { mode: "number" }).notNull().default(0),
  /** US dollars; numeric, so the sum is exactly the sum of the events' costs. */
  cost: numeric("cost").notNull().default("0"),
  /** Model steps (usage events) counted. */
  steps: bigint("steps", { mode: "number" }).notNull().default(0),
});

/**
 * Running totals per session, task and codebase, kept in the transaction that
 * stores the usage events (see services/usage/rollup.ts), so they always agree.
 * No foreign keys: a session's totals exist before its row does (a worker's run),
 * and what was spent stays spent when a codebase is deleted.
 */
export const usageTotals = pgTable(
  "usage_totals",
  {
    /** session | task | codebase */
    scope: text("scope").notNull(),
    id: text("id").notNull(),
    ...usageColumns(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.id] })],
);

/**
 * The same sums per hour, codebase, model, agent and runner, and per day in
 * `usage_daily`: GET /usage adds up whole days from the daily table and the edges
 * of its range from this one (never the events), so a long range stays cheap.
 */
export const usageHourly = pgTable(
  "usage_hourly",
  {
    hour: timestamp("hour", { withTimezone: true, mode: "date" }).notNull(),
    codebaseId: text("codebase_id").notNull(),
    model: text("model").notNull(),
    agent: text("agent").notNull(),
    /** The worker's name, or `local` for the server's own OpenCode (triggers and the local runner). */
    worker: text("worker").notNull(),
    ...usageColumns(),
  },
  (t) => [primaryKey({ columns: [t.hour, t.codebaseId, t.model, t.agent, t.worker] })],
);

/** `usage_hourly` per UTC day: what a report over whole days reads. */
export const usageDaily = pgTable(
  "usage_daily",
  {
    day: timestamp("day", { withTimezone: true, mode: "date" }).notNull(),
    codebaseId: text("codebase_id").notNull(),
    model: text("model").notNull(),
    agent: text("agent").notNull(),
    worker: text("worker").notNull(),
    ...usageColumns(),
  },
  (t) => [primaryKey({ columns: [t.day, t.codebaseId, t.model, t.agent, t.worker] })],
);

/** Bytes, as Buffers on both drivers (PGlite answers Uint8Array). */
const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => "bytea",
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

/**
 * A run's worktree and what it changed: one row per isolated session (and task
 * attempt), kept after the worktree itself is gone, so the diff can still be read
 * and applied from its branch. `runner` says on which machine it lives.
 */
export const worktrees = pgTable(
  "worktrees",
  {
    id: text("id").primaryKey(),
    codebaseId: text("codebase_id")
      .notNull()
      .references(() => codebases.id, { onDelete: "cascade" }),
    sessionId: text("session_id"),
    taskId: text("task_id"),
    /** `local` (this server's machine) or the worker's name. */
    runner: text("runner").notNull(),
    /** The repository it belongs to and the worktree's own directory, on the runner's machine. */
    repoPath: text("repo_path").notNull(),
    path: text("path").notNull(),
    /** Where the agent works inside it (the codebase's subdirectory of the repository). */
    directory: text("directory").notNull(),
    branch: text("branch").notNull(),
    baseRef: text("base_ref").notNull(),
    baseCommit: text("base_commit").notNull(),
    headCommit: text("head_commit"),
    /** active | applied | discarded | removed (pruned: the branch stays) */
    state: text("state").notNull().default("active"),
    files: jsonb("files").$type<unknown[]>().notNull().default([]),
    additions: integer("additions").notNull().default(0),
    deletions: integer("deletions").notNull().default(0),
    patch: bytea("patch"),
    truncated: boolean("truncated").notNull().default(false),
    omittedFiles: integer("omitted_files").notNull().default(0),
    diffAt: timestamp("diff_at", { withTimezone: true, mode: "date" }),
    diskBytes: bigint("disk_bytes", { mode: "number" }),
    /** How it was applied (fast-forward, merge, uncommitted) and the codebase's commit afterwards. */
    appliedMode: text("applied_mode"),
    appliedCommit: text("applied_commit"),
    pushedTo: text("pushed_to"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    /** When its run last ended (the time to live counts from here); null while one runs. */
    endedAt: timestamp("ended_at", { withTimezone: true, mode: "date" }),
    removedAt: timestamp("removed_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    uniqueIndex("worktrees_session_idx").on(t.sessionId),
    index("worktrees_task_idx").on(t.taskId, t.createdAt),
    index("worktrees_codebase_idx").on(t.codebaseId, t.state),
    index("worktrees_prunable_idx").on(t.endedAt).where(sql`removed_at is null`),
  ],
);

/** A person (or a program) using this server; their keys carry at most their role. */
export const users = pgTable("users", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  /** admin | member | viewer | worker (see contracts/access.ts) */
  role: text("role").notNull(),
  disabledAt: timestamp("disabled_at", { withTimezone: true, mode: "date" }),
  createdAt: createdAt(),
});

/**
 * An API key: `ctk_<id>_<secret>`, stored as the SHA-256 of the secret only (the key is shown once). The id is
 * public (it is in the key, the log and the audit trail), so a key is looked up by it and compared in constant time.
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** The key's own role: the user's, or less. */
    role: text("role").notNull(),
    /** When set, the only codebases (ids) it may see; when null, all. */
    codebaseIds: jsonb("codebase_ids").$type<string[]>(),
    /** For a worker key: the worker names it may speak for; null for any. */
    workerNames: jsonb("worker_names").$type<string[]>(),
    secretHash: text("secret_hash").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, mode: "date" }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
    createdAt: createdAt(),
  },
  (t) => [index("api_keys_user_idx").on(t.userId)],
);

/** Who changed what: appended in the change's own transaction, never updated. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /** null for the built-in key (CODETETHER_API_KEY), an open server, or the server itself. */
    userId: text("user_id"),
    keyId: text("key_id"),
    /** `builtin`, `open`, `key` or `system`: how the actor was known. */
    actor: text("actor").notNull(),
    requestId: text("request_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id"),
    detail: jsonb("detail").$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index("audit_log_action_idx").on(t.action, t.id), index("audit_log_target_idx").on(t.targetType, t.targetId, t.id)],
);

/**
 * Where to tell people when something happens: an HTTPS (or, when an admin allows it, private) URL, the event
 * types it wants and, optionally, the codebases it is about. Deliveries are signed with its secret
 * (Standard Webhooks); the secret is shown once, and stored as is because signing needs it.
 */
export const webhookEndpoints = pgTable("webhook_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  description: text("description").notNull().default(""),
  /** The event types it receives (see services/webhooks/webhook-events.ts). */
  eventTypes: jsonb("event_types").$type<string[]>().notNull(),
  /** When set, only events of these codebases; when null, every codebase's. */
  codebaseIds: jsonb("codebase_ids").$type<string[]>(),
  secret: text("secret").notNull(),
  /** Set when an admin turned it off, or when it failed for longer than the retry window (with the reason). */
  disabledAt: timestamp("disabled_at", { withTimezone: true, mode: "date" }),
  disabledReason: text("disabled_reason"),
  /** Since when its deliveries fail without one succeeding; null while it answers. */
  failingSince: timestamp("failing_since", { withTimezone: true, mode: "date" }),
  createdBy: text("created_by"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * One message to one endpoint, written in the transaction of the change that causes it (the outbox), and sent
 * by whichever server process leases it first. Its id is the `webhook-id` header: the same on every attempt.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    eventType: text("event_type").notNull(),
    /** The body as sent: { type, timestamp, data }. */
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    /** pending | succeeded | failed (gave up after the retry window) */
    status: text("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /** While an attempt is in flight: until when it is the holder's (another process may take it after). */
    leaseUntil: timestamp("lease_until", { withTimezone: true, mode: "date" }),
    leasedBy: text("leased_by"),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    lastDurationMs: integer("last_duration_ms"),
    deliveredAt: timestamp("delivered_at", { withTimezone: true, mode: "date" }),
    createdAt: createdAt(),
  },
  (t) => [
    index("webhook_deliveries_due_idx").on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.createdAt),
  ],
);

/** Every attempt of a delivery, for its log: what the endpoint answered and how long it took. */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    statusCode: integer("status_code"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    /** The server process that sent it. */
    sentBy: text("sent_by").notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] })],
);

/**
 * A follow-up prompt sent (with `queue: true`) while its session was running: it runs as the session's next turn
 * when the current one ends, in the order they were queued. Edited or removed while `queued`; `cancelled` when
 * the session is aborted.
 */
export const queuedPrompts = pgTable(
  "queued_prompts",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    codebaseId: text("codebase_id").notNull(),
    /** Its place in the session's queue (a sequence, so the order is the order they came in). */
    position: bigint("position", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    prompt: text("prompt").notNull(),
    agent: text("agent"),
    model: text("model"),
    /** queued | started | failed (it could not start) | cancelled */
    status: text("status").notNull().default("queued"),
    runId: text("run_id"),
    error: text("error"),
    createdBy: text("created_by"),
    createdAt: createdAt(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("queued_prompts_session_idx").on(t.sessionId, t.position).where(sql`status = 'queued'`)],
);
