ALTER TABLE "sessions" ADD COLUMN "run_owner" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "run_heartbeat_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "sessions_running_idx" ON "sessions" USING btree ("run_heartbeat_at") WHERE status = 'running';