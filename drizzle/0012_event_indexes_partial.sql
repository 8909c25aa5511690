DROP INDEX "agent_events_created_idx";--> statement-breakpoint
DROP INDEX "agent_events_upload_dedupe";--> statement-breakpoint
DROP INDEX "agent_events_session_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "agent_events_upload_dedupe" ON "agent_events" USING btree ("task_id","attempt","worker_seq") WHERE worker_seq is not null;--> statement-breakpoint
CREATE INDEX "agent_events_session_idx" ON "agent_events" USING btree ("session_id","seq") WHERE session_id is not null;