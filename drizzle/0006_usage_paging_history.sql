CREATE TABLE "usage_daily" (
	"day" timestamp with time zone NOT NULL,
	"codebase_id" text NOT NULL,
	"model" text NOT NULL,
	"agent" text NOT NULL,
	"worker" text NOT NULL,
	"input_tokens" bigint DEFAULT 0 NOT NULL,
	"output_tokens" bigint DEFAULT 0 NOT NULL,
	"reasoning_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_read_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_write_tokens" bigint DEFAULT 0 NOT NULL,
	"cost" numeric DEFAULT '0' NOT NULL,
	"steps" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_daily_day_codebase_id_model_agent_worker_pk" PRIMARY KEY("day","codebase_id","model","agent","worker")
);
--> statement-breakpoint
CREATE TABLE "usage_hourly" (
	"hour" timestamp with time zone NOT NULL,
	"codebase_id" text NOT NULL,
	"model" text NOT NULL,
	"agent" text NOT NULL,
	"worker" text NOT NULL,
	"input_tokens" bigint DEFAULT 0 NOT NULL,
	"output_tokens" bigint DEFAULT 0 NOT NULL,
	"reasoning_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_read_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_write_tokens" bigint DEFAULT 0 NOT NULL,
	"cost" numeric DEFAULT '0' NOT NULL,
	"steps" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_hourly_hour_codebase_id_model_agent_worker_pk" PRIMARY KEY("hour","codebase_id","model","agent","worker")
);
--> statement-breakpoint
CREATE TABLE "usage_totals" (
	"scope" text NOT NULL,
	"id" text NOT NULL,
	"input_tokens" bigint DEFAULT 0 NOT NULL,
	"output_tokens" bigint DEFAULT 0 NOT NULL,
	"reasoning_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_read_tokens" bigint DEFAULT 0 NOT NULL,
	"cache_write_tokens" bigint DEFAULT 0 NOT NULL,
	"cost" numeric DEFAULT '0' NOT NULL,
	"steps" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_totals_scope_id_pk" PRIMARY KEY("scope","id")
);
--> statement-breakpoint
ALTER TABLE "event_streams" ADD COLUMN "pruned_through" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "claims" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "agent_events_task_idx" ON "agent_events" USING btree ("task_id","seq") WHERE task_id is not null;--> statement-breakpoint
CREATE INDEX "agent_events_created_idx" ON "agent_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "sessions_search_idx" ON "sessions" USING gin (to_tsvector('simple', "title"));--> statement-breakpoint
CREATE INDEX "tasks_search_idx" ON "tasks" USING gin (to_tsvector('simple', "title" || ' ' || "prompt"));--> statement-breakpoint
-- Usage stored before the rollups existed is counted once, here; from now on every append keeps them (services/usage/rollup.ts).
INSERT INTO "usage_totals" ("scope", "id", "input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "steps")
SELECT x.scope, x.id, sum(x.i), sum(x.o), sum(x.r), sum(x.cr), sum(x.cw), sum(x.c), count(*)
FROM (
  SELECT u.scope, u.id,
    floor(greatest(coalesce((e.data->>'input_tokens')::numeric, 0), 0))::bigint AS i, floor(greatest(coalesce((e.data->>'output_tokens')::numeric, 0), 0))::bigint AS o,
    floor(greatest(coalesce((e.data->>'reasoning_tokens')::numeric, 0), 0))::bigint AS r, floor(greatest(coalesce((e.data->>'cache_read_tokens')::numeric, 0), 0))::bigint AS cr,
    floor(greatest(coalesce((e.data->>'cache_write_tokens')::numeric, 0), 0))::bigint AS cw, greatest(coalesce((e.data->>'cost')::numeric, 0), 0) AS c
  FROM "agent_events" e
  CROSS JOIN LATERAL (VALUES ('session', e.session_id), ('task', e.task_id), ('codebase', e.stream_id)) AS u(scope, id)
  WHERE e.type = 'usage' AND u.id IS NOT NULL
) x
GROUP BY x.scope, x.id;
--> statement-breakpoint
INSERT INTO "usage_hourly" ("hour", "codebase_id", "model", "agent", "worker", "input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "steps")
SELECT date_trunc('hour', e.created_at, 'UTC'), e.stream_id,
  coalesce(e.data->>'model', s.model, t.model, 'unknown'), coalesce(e.data->>'agent', s.agent, t.agent_type, 'unknown'), coalesce(t.worker_id, 'local'),
  sum(floor(greatest(coalesce((e.data->>'input_tokens')::numeric, 0), 0))::bigint), sum(floor(greatest(coalesce((e.data->>'output_tokens')::numeric, 0), 0))::bigint),
  sum(floor(greatest(coalesce((e.data->>'reasoning_tokens')::numeric, 0), 0))::bigint), sum(floor(greatest(coalesce((e.data->>'cache_read_tokens')::numeric, 0), 0))::bigint),
  sum(floor(greatest(coalesce((e.data->>'cache_write_tokens')::numeric, 0), 0))::bigint), sum(greatest(coalesce((e.data->>'cost')::numeric, 0), 0)), count(*)
FROM "agent_events" e
LEFT JOIN "sessions" s ON s.id = e.session_id
LEFT JOIN "tasks" t ON t.id = e.task_id
WHERE e.type = 'usage'
GROUP BY 1, 2, 3, 4, 5;
--> statement-breakpoint
-- Tasks claimed before claims were counted: their stored uploads were keyed by attempt (which a hand-back lowered).
UPDATE "tasks" SET "claims" = greatest("attempts", coalesce((SELECT max(e."attempt") FROM "agent_events" e WHERE e."task_id" = "tasks"."id"), 0));
--> statement-breakpoint
INSERT INTO "usage_daily" ("day", "codebase_id", "model", "agent", "worker", "input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cost", "steps")
SELECT date_trunc('day', "hour", 'UTC'), "codebase_id", "model", "agent", "worker", sum("input_tokens"), sum("output_tokens"), sum("reasoning_tokens"),
  sum("cache_read_tokens"), sum("cache_write_tokens"), sum("cost"), sum("steps")
FROM "usage_hourly"
GROUP BY 1, 2, 3, 4, 5;
