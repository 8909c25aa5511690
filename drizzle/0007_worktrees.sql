CREATE TABLE "worktrees" (
	"id" text PRIMARY KEY NOT NULL,
	"codebase_id" text NOT NULL,
	"session_id" text,
	"task_id" text,
	"runner" text NOT NULL,
	"repo_path" text NOT NULL,
	"path" text NOT NULL,
	"directory" text NOT NULL,
	"branch" text NOT NULL,
	"base_ref" text NOT NULL,
	"base_commit" text NOT NULL,
	"head_commit" text,
	"state" text DEFAULT 'active' NOT NULL,
	"files" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"additions" integer DEFAULT 0 NOT NULL,
	"deletions" integer DEFAULT 0 NOT NULL,
	"patch" "bytea",
	"truncated" boolean DEFAULT false NOT NULL,
	"omitted_files" integer DEFAULT 0 NOT NULL,
	"diff_at" timestamp with time zone,
	"disk_bytes" bigint,
	"applied_mode" text,
	"applied_commit" text,
	"pushed_to" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone,
	"removed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "codebases" ADD COLUMN "vcs" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "base_ref" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "kind" text DEFAULT 'agent' NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "action" jsonb;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "runner_pin" text;--> statement-breakpoint
ALTER TABLE "worktrees" ADD CONSTRAINT "worktrees_codebase_id_codebases_id_fk" FOREIGN KEY ("codebase_id") REFERENCES "public"."codebases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "worktrees_session_idx" ON "worktrees" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "worktrees_task_idx" ON "worktrees" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE INDEX "worktrees_codebase_idx" ON "worktrees" USING btree ("codebase_id","state");--> statement-breakpoint
CREATE INDEX "worktrees_prunable_idx" ON "worktrees" USING btree ("ended_at") WHERE removed_at is null;