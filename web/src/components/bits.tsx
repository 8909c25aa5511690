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

/** The button under a paged list; absent on the last page. */
export function ShowMore({ list }: { list: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown } }) {
  if (!list.hasNextPage) return null;
  return (
    <div className="actions">
      <button type="button" className="secondary" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
        {list.isFetchingNextPage ? "Loading…" : "Show more"}
      </button>
    </div>
  );
}

/** A search field for a list's `q`: words of titles (and prompts), each may be a prefix. */
export function SearchBox({ value, onChange, label }: { value: string; onChange: (q: string) => void; label: string }) {
  return (
    <label className="search">
      <span className="sr-only">{label}</span>
      <input className="search-input" type="search" placeholder={label} value={value} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}

/** US dollars as a person reads them: small amounts keep their digits. */
export function dollars(amount: number): string {
  return `$${amount >= 1 ? amount.toFixed(2) : amount.toFixed(4)}`;
}

/** Tokens in and out, as one short phrase. */
export function tokens(u: { input_tokens: number; output_tokens: number }): string {
  return `${u.input_tokens.toLocaleString()} in · ${u.output_tokens.toLocaleString()} out`;
}

/** Disk sizes as a person reads them (1.2 MB). */
export function bytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** A secret the server shows once (an API key, a webhook's signing secret): what it is, the secret, and the way on. */
export function ShownOnce({ children, secret, onDone }: { children: ReactNode; secret: string; onDone: () => void }) {
  return (
    <div className="card" role="status">
      <p>{children}</p>
      <p>
        <code className="secret">{secret}</code>
      </p>
      <button type="button" onClick={onDone}>
        I have copied it
      </button>
    </div>
  );
}
