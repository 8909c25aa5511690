/**
 * What the signed-in key's role allows, for the pages to leave out or disable what it
 * may not use (the server refuses it anyway; this says so before anyone tries).
 */
import { useQuery } from "@tanstack/react-query";
import { useClient } from "./context.tsx";
import { queries } from "./queries.ts";

export interface Can {
  /** Run agents, change codebases, tasks and runs' changes (member, admin). */
  write: boolean;
  /** Users, keys and the audit log. */
  admin: boolean;
  /** Why `write` is false, for a disabled control's title. */
  whyNot: string;
}

export function useCan(): Can {
  const me = useQuery(queries(useClient()).me());
  const role = me.data?.role;
  // Until the answer is in, assume the most common case (the page does not flicker from disabled to enabled).
  const write = role === undefined || role === "admin" || role === "member";
  return { write, admin: role === "admin", whyNot: write ? "" : `Your key's role (${role}) can read but not change anything` };
}
