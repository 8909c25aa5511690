DROP INDEX "tasks_runnable_idx";--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "attempt_errors" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
CREATE INDEX "tasks_lease_idx" ON "tasks" USING btree ("lease_expires_at") WHERE status = 'running';--> statement-breakpoint
CREATE INDEX "tasks_runnable_idx" ON "tasks" USING btree ("priority" DESC NULLS LAST,"created_at","id") WHERE status = 'pending';