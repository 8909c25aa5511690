/** The SDK client for the signed-in key, shared by every page. */
import type { CodeTetherClient } from "@codetether/sdk";
import { createContext, useContext } from "react";

export const ClientContext = createContext<CodeTetherClient | null>(null);

export function useClient(): CodeTetherClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error("useClient outside <ClientContext>");
  return client;
}
