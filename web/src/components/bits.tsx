/** Small pieces every page uses: loading, empty and error states. */
import type { ReactNode } from "react";
import { errorText } from "../client.ts";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="muted" role="status">
      {what}…
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children ? <p>{children}</p> : null}
    </div>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  return (
    <p className="error-text" role="alert">
      {errorText(error)}
    </p>
  );
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}
