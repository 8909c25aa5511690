/**
 * Prometheus metrics (prom-client), one registry per server so several servers in
 * one process (tests) never share counters. Counters and histograms are fed where
 * things happen; gauges that describe stored state (tasks by status, workers
 * online) are read from the database when scraped, with one cheap grouped query each.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** What the gauges read when /metrics is scraped. */
export interface MetricSources {
  streamsOpen(): number;
  opencodeUp(): boolean;
  tasksByStatus(): Promise<Record<string, number>>;
  workersOnline(): Promise<number>;
}

export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: "codetether_http_request_duration_seconds",
    help: "HTTP requests by route pattern, method and status: time to the answer's head (an event stream counts until it starts)",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly eventsAppended = new Counter({
    name: "codetether_events_appended_total",
    help: "Agent events stored by this process, by event type",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  readonly runs = new Counter({
    name: "codetether_runs_total",
    help: "Runs (and task attempts) that ended, by outcome: completed, failed, aborted, cancelled",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly runDuration = new Histogram({
    name: "codetether_run_duration_seconds",
    help: "How long runs took from running to their end, by outcome (runs whose start this process saw)",
    labelNames: ["outcome"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  readonly claimWait = new Histogram({
    name: "codetether_task_claim_wait_seconds",
    help: "Time from a task becoming runnable to a runner claiming it",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly leaseExpiries = new Counter({
    name: "codetether_task_lease_expiries_total",
    help: "Task attempts whose runner stopped renewing its lease (taken back by the sweeper)",
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: "codetether_webhook_attempts_total",
    help: "Webhook delivery attempts, by outcome (succeeded, failed)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly requeues = new Counter({
    name: "codetether_task_requeues_total",
    help: "Task attempts put back in the queue (lease expired, or released by their runner)",
    registers: [this.registry],
  });

  readonly usageTokens = new Counter({
    name: "codetether_usage_tokens_total",
    help: "Tokens the model steps of runs used, by kind (input, output, reasoning, cache_read, cache_write), as stored by this process",
    labelNames: ["kind"],
    registers: [this.registry],
  });

  readonly usageCost = new Counter({
    name: "codetether_usage_cost_usd_total",
    help: "US dollars the model steps of runs cost, as stored by this process",
    registers: [this.registry],
  });

  readonly opencodeRestarts = new Counter({
    name: "codetether_opencode_restarts_total",
    help: "Times the managed opencode serve was restarted (after a crash, or for a configuration change)",
    registers: [this.registry],
  });

  readonly databaseErrors = new Counter({
    name: "codetether_database_errors_total",
    help: "Requests that failed because the database could not be reached",
    registers: [this.registry],
  });

  constructor(sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "codetether_streams_open",
      help: "Event streams (SSE and tRPC subscriptions) this process is serving",
      registers: [this.registry],
      collect() {
        this.set(sources.streamsOpen());
      },
    });
    new Gauge({
      name: "codetether_opencode_up",
      help: "1 when this process's OpenCode answers, 0 otherwise",
      registers: [this.registry],
      collect() {
        this.set(sources.opencodeUp() ? 1 : 0);
      },
    });
    new Gauge({
      name: "codetether_tasks",
      help: "Tasks in the database by status",
      labelNames: ["status"] as const,
      registers: [this.registry],
      async collect() {
        const counts = await sources.tasksByStatus().catch(() => undefined);
        if (!counts) return;
        this.reset();
        for (const status of ["pending", "running", "completed", "failed", "cancelled"]) this.set({ status }, counts[status] ?? 0);
      },
    });
    new Gauge({
      name: "codetether_workers_online",
      help: "Workers heard from within the last 30 s",
      registers: [this.registry],
      async collect() {
        const online = await sources.workersOnline().catch(() => undefined);
        if (online !== undefined) this.set(online);
      },
    });
  }

  /** The text exposition format, for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
