/**
 * The dashboard's one way to the server: our own SDK, on the page's origin. The API
 * key (when the server has one) is asked for once and kept for the tab in
 * sessionStorage, or in localStorage when the user ticks "remember"; never in the URL.
 */
import { type CodeTetherClient, createCodeTetherClient, isTRPCClientError } from "@codetether/sdk";

const storageKey = "codetether.apiKey";

export function storedKey(): string | undefined {
  return sessionStorage.getItem(storageKey) ?? localStorage.getItem(storageKey) ?? undefined;
}

export function saveKey(key: string | null, remember: boolean): void {
  sessionStorage.removeItem(storageKey);
  localStorage.removeItem(storageKey);
  if (key) (remember ? localStorage : sessionStorage).setItem(storageKey, key);
}

export function makeClient(apiKey: string | undefined): CodeTetherClient {
  return createCodeTetherClient({ url: window.location.origin, apiKey });
}

/** A short, human message for an error from any call. */
export function errorText(err: unknown): string {
  if (isTRPCClientError(err)) return err.message;
  return err instanceof Error ? err.message : String(err);
}
