/** What the page in Chromium reports back to the browser test (shared by both sides, no DOM types here). */
export interface PageResult {
  sessionId: string;
  /** Event types of the triggered run, in order, as the default client saw them. */
  types: string[];
  said: string;
  /** What the native-EventSource example saw of the same run. */
  nativeTypes: string[];
  /** Ids the stream delivered after resuming from `resumedAfter`. */
  resumedAfter: number;
  resumedIds: number[];
  models: number;
}

/** The function the page puts on `globalThis.codetetherTest`. */
export type PageRun = (apiKey: string, codebaseId: string) => Promise<PageResult>;
