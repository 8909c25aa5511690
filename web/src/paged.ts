/**
 * A paged list as one growing list: the first page at once, the next ones when
 * the user asks ("Show more"), each from the cursor the last page answered.
 * Refreshing (an activity hint) refetches the pages already shown, in order.
 */
import { useInfiniteQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** A paged list's key and how it fetches one page from a cursor (`pages` in queries.ts gives them paired). */
export interface PagedList<T> {
  queryKey: readonly unknown[];
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>;
}

export function usePaged<T>({ queryKey, fetchPage }: PagedList<T>) {
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // Search-as-you-type keeps the last answer on screen until the new one is in: no flicker.
    placeholderData: (previous) => previous,
  });
  return { ...query, items: query.data?.pages.flatMap((p) => p.items) };
}

/** `value`, once it has stopped changing for `ms` (so typing a search does not ask the server per key). */
export function useSettled<T>(value: T, ms = 250): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
