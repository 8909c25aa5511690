/**
 * A run's Changes: the files its worktree changed with their additions and
 * deletions, the diff itself (unified or side by side, in colour), and what the
 * user decides: apply (a merge commit, a fast-forward, or uncommitted edits),
 * discard, or push the branch. Each button says what it will do; the diff is
 * refreshed as the run's `diff` events arrive.
 */
import type { ApplyMode, RunDiff } from "@codetether/sdk";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { errorText } from "../client.ts";
import { useClient } from "../context.tsx";
import { keys, queries } from "../queries.ts";
import { ErrorNote, Loading, when } from "./bits.tsx";

/** The diff renderer (react-diff-view with refractor) loads only when a diff is shown. */
const DiffView = lazy(() => import("./DiffView.tsx"));

const modes: { mode: ApplyMode; label: string; says: (d: RunDiff) => string }[] = [
  { mode: "merge", label: "Merge commit", says: (d) => `Merges ${d.branch} into ${d.target_branch ?? "the codebase's branch"} with a merge commit.` },
  {
    mode: "fast-forward",
    label: "Fast-forward",
    says: (d) => `Moves ${d.target_branch ?? "the codebase's branch"} to ${d.branch}; refused if ${d.target_branch ?? "it"} has moved since the run began.`,
  },
  { mode: "uncommitted", label: "Uncommitted", says: () => "Writes the changes into the codebase's working tree without committing anything." },
];

const statusMark: Record<string, string> = { added: "A", modified: "M", deleted: "D", renamed: "R", copied: "C", type_changed: "T" };

export function Changes({ codebaseId, sessionId, running }: { codebaseId: string; sessionId: string; running: boolean }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const diff = useQuery(queries(client).diff(codebaseId, sessionId));
  const [view, setView] = useState<"unified" | "split">("unified");
  const [mode, setMode] = useState<ApplyMode>("merge");
  const [confirmDiscard, setConfirmDiscard] = useState(false);
  const done = () => {
    void queryClient.invalidateQueries({ queryKey: keys.diff(codebaseId, sessionId) });
    void queryClient.invalidateQueries({ queryKey: keys.sessionsOf(codebaseId) });
  };
  const apply = useMutation({ mutationFn: () => client.applyChanges(codebaseId, sessionId, { mode }), onSuccess: done });
  const discard = useMutation({ mutationFn: () => client.discardChanges(codebaseId, sessionId), onSuccess: done });
  const push = useMutation({ mutationFn: () => client.trpc.sessions.pushBranch.mutate({ codebaseId, sessionId }), onSuccess: done });

  if (diff.isPending) return <Loading what="Reading the run's changes" />;
  if (diff.error) {
    const noWorktree = /without isolation/.test(errorText(diff.error));
    return noWorktree ? (
      <p className="muted">
        This run worked in the codebase's own directory (it is not a git repository, or its <code>agent_config.isolation</code> is <code>none</code>), so what
        it changed is already there; its file changes are listed in the output.
      </p>
    ) : (
      <ErrorNote error={diff.error} />
    );
  }
  const d = diff.data;
  const decided = d.state === "applied" || d.state === "discarded";
  const files = d.files;
  const conflicts = (apply.error as { data?: { details?: { conflicts?: string[] } | null } } | null)?.data?.details?.conflicts;
  return (
    <div className="changes">
      <div className="changes-head">
        <p>
          <span className="badge">{d.state}</span> <code>{d.branch}</code> from <code title={d.base_commit}>{d.base_commit.slice(0, 8)}</code>
          {d.head_commit ? (
            <>
              {" "}
              at <code title={d.head_commit}>{d.head_commit.slice(0, 8)}</code>
            </>
          ) : null}
        </p>
        <p className="muted" aria-live="polite">
          {files.length === 0 ? "No changes yet." : `${files.length} file${files.length === 1 ? "" : "s"} changed, `}
          {files.length > 0 ? (
            <>
              <span className="plus">+{d.additions}</span> <span className="minus">−{d.deletions}</span>
            </>
          ) : null}
          {running ? " · live, as the run goes on" : d.diff_at ? ` · as of ${when(d.diff_at)}` : ""}
        </p>
      </div>
      {files.length > 0 ? (
        <ul className="file-list" aria-label="Changed files">
          {files.map((f) => (
            <li key={f.path}>
              <span className={`mark mark-${f.status}`} title={f.status}>
                {statusMark[f.status] ?? "M"}
              </span>{" "}
              <a href={`#file-${encodeURIComponent(f.path)}`}>
                <code>{f.old_path ? `${f.old_path} → ${f.path}` : f.path}</code>
              </a>{" "}
              {f.binary ? (
                <span className="muted">binary</span>
              ) : (
                <span>
                  <span className="plus">+{f.additions}</span> <span className="minus">−{f.deletions}</span>
                </span>
              )}
            </li>
          ))}
        </ul>
      ) : null}
      {decided ? null : (
        <section className="card decide" aria-label="Decide what happens to these changes">
          {running ? <p className="muted">Apply and discard become possible when the run ends.</p> : null}
          <fieldset className="modes" disabled={running || files.length === 0}>
            <legend>Apply as</legend>
            {modes.map((m) => (
              <label key={m.mode} className="inline">
                <input type="radio" name="apply-mode" value={m.mode} checked={mode === m.mode} onChange={() => setMode(m.mode)} /> {m.label}
              </label>
            ))}
          </fieldset>
          <p className="muted">{modes.find((m) => m.mode === mode)!.says(d)}</p>
          <div className="actions">
            <button type="button" onClick={() => apply.mutate()} disabled={running || files.length === 0 || apply.isPending}>
              {apply.isPending ? "Applying…" : `Apply to ${d.target_branch ?? "the codebase"}`}
            </button>
            {d.remotes === null || d.remotes.length > 0 ? (
              <button
                type="button"
                className="secondary"
                onClick={() => push.mutate()}
                disabled={push.isPending}
                title={`Pushes ${d.branch} to ${d.remotes?.includes("origin") ? "origin" : (d.remotes?.[0] ?? "the repository's remote")}`}
              >
                {push.isPending ? "Pushing…" : `Push ${d.branch}`}
              </button>
            ) : (
              <span className="muted">No git remote to push to.</span>
            )}
            {confirmDiscard ? (
              <fieldset className="confirm" aria-label="Confirm discarding the changes">
                Remove the worktree and delete {d.branch}?
                <button type="button" className="danger" onClick={() => discard.mutate()} disabled={discard.isPending}>
                  Yes, discard
                </button>
                <button type="button" className="secondary" onClick={() => setConfirmDiscard(false)}>
                  Keep them
                </button>
              </fieldset>
            ) : (
              <button type="button" className="danger secondary" onClick={() => setConfirmDiscard(true)} disabled={running}>
                Discard
              </button>
            )}
          </div>
          {apply.error ? (
            <p className="error-text" role="alert">
              {errorText(apply.error)}
              {conflicts?.length ? ` (${conflicts.length} file${conflicts.length === 1 ? "" : "s"})` : ""}
            </p>
          ) : null}
          {apply.data ? (
            <p role="status">
              {apply.data.state === "queued"
                ? `Queued for the worker that holds it (task ${apply.data.task_id}).`
                : `Applied ${apply.data.files?.length ?? 0} file(s) to ${apply.data.target_branch ?? "the working tree"}${apply.data.commit ? ` at ${apply.data.commit.slice(0, 8)}` : ""}.`}
            </p>
          ) : null}
          {push.error ? <ErrorNote error={push.error} /> : null}
          {push.data ? (
            <p role="status">{push.data.state === "queued" ? "Queued for the worker." : `Pushed ${push.data.branch} to ${push.data.remote}.`}</p>
          ) : null}
          {discard.error ? <ErrorNote error={discard.error} /> : null}
        </section>
      )}
      {d.state === "applied" ? (
        <p role="status" className="muted">
          Applied ({d.applied_mode}){d.applied_commit ? ` at ${d.applied_commit.slice(0, 8)}` : ""}; its worktree was removed.
        </p>
      ) : null}
      {d.state === "discarded" ? (
        <p role="status" className="muted">
          Discarded: the worktree and branch are gone; the diff below is what it was.
        </p>
      ) : null}
      {files.length > 0 ? (
        <>
          <fieldset className="view-toggle">
            <legend className="sr-only">Diff layout</legend>
            {(["unified", "split"] as const).map((v) => (
              <label key={v} className="inline">
                <input type="radio" name="diff-view" value={v} checked={view === v} onChange={() => setView(v)} />{" "}
                {v === "unified" ? "Unified" : "Side by side"}
              </label>
            ))}
          </fieldset>
          <Suspense fallback={<Loading what="Drawing the diff" />}>
            <DiffView text={d.diff} view={view} />
          </Suspense>
          {d.truncated ? (
            <p className="warn">
              The diff is cut: {d.omitted_files} more file(s) are not shown (the size cap); the branch <code>{d.branch}</code> has them all.
            </p>
          ) : null}
        </>
      ) : null}
    </div>
  );
}
