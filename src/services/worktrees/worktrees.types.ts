/** Request and response shapes of runs' worktrees and diffs (apply, discard, push). */
// Plain zod, so the types these schemas infer (which the SDK publishes) do not reach hono;
// importing @hono/zod-openapi first still gives every schema `.openapi()`.
import "@hono/zod-openapi";
import { z } from "zod";
import { Timestamp } from "../../contracts/fields.js";

export const Isolation = z.enum(["worktree", "none"]).openapi("Isolation", {
  description: "`worktree`: the run works in a git worktree of its own, on its own branch; `none`: in the codebase's directory itself",
});
export type Isolation = z.infer<typeof Isolation>;

export const WorktreeState = z.enum(["active", "applied", "discarded", "removed"]).openapi("WorktreeState", {
  description:
    "`active`: the worktree is there (running, or ended and kept); `applied` / `discarded`: the user decided and it was removed; " +
    "`removed`: cleaned up after its time to live or the disk quota, its branch kept (apply, push and resume still work)",
});
export type WorktreeState = z.infer<typeof WorktreeState>;

/** A git ref a caller may name as a run's base: a branch, a tag, `HEAD`, a commit. */
export const BaseRef = z
  .string()
  .min(1)
  .max(250)
  .refine((r) => !r.startsWith("-"), "base_ref must not start with '-'")
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  .refine((r) => !/[\u0000-\u0020\u007f~:?*[\\]/.test(r), "base_ref must be a git ref (a branch, tag or commit)")
  .openapi({ description: "The git ref (branch, tag or commit) the run's worktree starts from; default the codebase's current HEAD", example: "main" });

/** What a session or task answer says about its worktree. */
export const WorktreeSummary = z
  .object({
    id: z.string(),
    state: WorktreeState,
    branch: z.string().openapi({ example: "codetether/1a2b3c4d-add-unit-tests" }),
    base_ref: z.string(),
    base_commit: z.string(),
    head_commit: z.string().nullable(),
    runner: z.string().openapi({ description: "Where it lives: `local` (this server's machine) or a worker's name" }),
    path: z.string().nullable().openapi({ description: "The worktree's directory on the runner's machine; null once removed" }),
    files_changed: z.number().int(),
    additions: z.number().int(),
    deletions: z.number().int(),
    truncated: z.boolean(),
    diff_at: Timestamp.nullable().openapi({ description: "When the diff was last taken; null before the first" }),
    disk_bytes: z.number().int().nullable().openapi({ description: "What the worktree takes on disk, measured when its run last ended" }),
    applied_mode: z.string().nullable(),
    applied_commit: z.string().nullable(),
    pushed_to: z.string().nullable().openapi({ description: "The remote its branch was last pushed to" }),
    created_at: Timestamp,
    ended_at: Timestamp.nullable(),
  })
  .openapi("WorktreeSummary");
export type WorktreeSummary = z.infer<typeof WorktreeSummary>;

export const FileChange = z
  .object({
    path: z.string(),
    old_path: z.string().optional().openapi({ description: "The path before a rename or copy" }),
    status: z.enum(["added", "modified", "deleted", "renamed", "copied", "type_changed"]),
    additions: z.number().int(),
    deletions: z.number().int(),
    binary: z.boolean().openapi({ description: "Binary files are named here and in the patch, never inlined in `diff`" }),
  })
  .openapi("FileChange");

export const RunDiff = WorktreeSummary.extend({
  codebase_id: z.string(),
  session_id: z.string().nullable(),
  task_id: z.string().nullable(),
  files: z.array(FileChange).openapi({ description: "Every changed file, even when the patch was cut" }),
  omitted_files: z.number().int().openapi({ description: "Files whose changes are left out of `diff` (and the patch) by the size cap" }),
  target_branch: z.string().nullable().openapi({
    description: "The codebase's current branch, which an apply merges into; null when its HEAD is detached or the repository is on a worker",
  }),
  remotes: z
    .array(z.string())
    .nullable()
    .openapi({ description: "The repository's git remotes, which `push` can push to; null when the repository is on a worker" }),
  diff: z.string().openapi({
    description:
      "The unified diff against the base commit (committed and uncommitted changes, new files included), binary files named; " +
      "cut at CODETETHER_DIFF_MAX_BYTES on a file boundary with a closing `# … diff truncated` line. `?format=patch` answers a patch `git apply` takes",
  }),
}).openapi("RunDiff");
export type RunDiff = z.infer<typeof RunDiff>;

export const DiffQuery = z.object({
  format: z
    .enum(["json", "patch"])
    .optional()
    .openapi({ description: "`patch`: the binary-safe patch itself (text/x-diff), for `git apply`; default the JSON answer" }),
});

export const ApplyMode = z.enum(["merge", "fast-forward", "uncommitted"]).openapi("ApplyMode", {
  description:
    "`merge` (default): a merge commit of the run's branch into the codebase's current branch; `fast-forward`: only when that branch has not moved since the run's base; " +
    "`uncommitted`: the run's changes written into the working tree, nothing committed",
});
export type ApplyMode = z.infer<typeof ApplyMode>;

export const ApplyRequest = z.object({ mode: ApplyMode.optional() }).strict().openapi("ApplyRequest");
export type ApplyRequest = z.infer<typeof ApplyRequest>;

export const PushRequest = z
  .object({
    remote: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9._-]+$/, "remote must be a remote's name")
      .optional(),
  })
  .strict()
  .openapi("PushRequest");
export type PushRequest = z.infer<typeof PushRequest>;

export const ChangeResult = z
  .object({
    worktree_id: z.string(),
    state: z.enum(["applied", "discarded", "pushed", "queued"]).openapi({
      description: "`queued`: the worktree lives on a worker, which was given the work (follow `task_id`); otherwise done",
    }),
    branch: z.string().openapi({ description: "The run's branch" }),
    mode: ApplyMode.optional(),
    target_branch: z.string().nullable().optional().openapi({ description: "The codebase's branch it was applied to" }),
    commit: z.string().optional().openapi({ description: "The codebase's commit after applying" }),
    files: z.array(z.string()).optional(),
    remote: z.string().optional(),
    task_id: z.string().optional().openapi({ description: "For `queued`: the worker's task doing it" }),
  })
  .openapi("ChangeResult");
export type ChangeResult = z.infer<typeof ChangeResult>;

/** What a worker reports about a worktree it holds: after opening it, with each diff, and after an action on it. */
export const WorktreeReport = z
  .object({
    lease_token: z.string().min(1).max(200),
    worktree_id: z.string().regex(/^wt_[0-9a-f]{16}$/, "worktree_id must be a wt_ id the worker made"),
    session_id: z.string().min(1).max(200).optional(),
    repo_path: z.string().min(1).max(4096),
    path: z.string().min(1).max(4096),
    directory: z.string().min(1).max(4096),
    branch: z.string().min(1).max(250),
    base_ref: z.string().min(1).max(250),
    base_commit: z.string().regex(/^[0-9a-f]{40,64}$/),
    head_commit: z
      .string()
      .regex(/^[0-9a-f]{40,64}$/)
      .optional(),
    state: WorktreeState.optional(),
    ended: z.boolean().optional().openapi({ description: "Its run ended (the time to live counts from now)" }),
    disk_bytes: z.number().int().min(0).optional(),
    applied_mode: ApplyMode.optional(),
    applied_commit: z.string().max(64).optional(),
    pushed_to: z.string().max(200).optional(),
    diff: z
      .object({
        files: z.array(FileChange).max(100_000),
        additions: z.number().int().min(0),
        deletions: z.number().int().min(0),
        truncated: z.boolean(),
        omitted_files: z.number().int().min(0),
        patch_base64: z.string().openapi({ description: "The patch, base64 (it may be binary)" }),
      })
      .optional(),
  })
  .strict()
  .openapi("WorktreeReport");

export const WorktreeReportResponse = z.object({ worktree_id: z.string(), stored: z.literal(true) }).openapi("WorktreeReportResponse");
export type WorktreeReport = z.infer<typeof WorktreeReport>;
