/**
 * Following a codebase's event stream through the SDK's tRPC subscription: events
 * arrive tracked with their stream id, so after a network drop or a server restart
 * the subscription resumes after the last one shown (nothing twice, nothing
 * missing), and the connection state says when it is reconnecting. Updates are
 * handed to React at most once per animation frame, so a fast run stays smooth.
 */
import type { AgentEvent } from "@codetether/sdk";
import { useEffect, useRef, useState } from "react";
import { useClient } from "./context.tsx";

export type StreamState = "connecting" | "live" | "reconnecting";

export interface StreamOptions {
  sessionId?: string;
  /** Follow one task's events across its attempts instead (the codebase id is then not needed). */
  taskId?: string;
  /** Start after this event id; undefined starts live (new events only). */
  from?: number;
  enabled?: boolean;
}

export function useEventStream(codebaseId: string | undefined, options: StreamOptions = {}) {
  const client = useClient();
  const [state, setState] = useState<StreamState>("connecting");
  const [version, setVersion] = useState(0);
  const events = useRef<AgentEvent[]>([]);
  const { sessionId, taskId, from, enabled = true } = options;

  useEffect(() => {
    events.current = [];
    setVersion((v) => v + 1);
    if ((!codebaseId && !taskId) || !enabled) return;
    let lastId = from ?? -1;
    let frame = 0;
    const flush = () => {
      frame = 0;
      setVersion((v) => v + 1);
    };
    const lastEventId = from === undefined ? undefined : String(from);
    const handlers = {
      onStarted: () => setState("live"),
      onData: (tracked: { data: AgentEvent }) => {
        const event = tracked.data;
        // A reconnect resumes after the last tracked id; guard anyway so nothing shows twice.
        if (event.id !== 0 && event.id <= lastId) return;
        if (event.id !== 0) lastId = event.id;
        events.current.push(event);
        frame ||= requestAnimationFrame(flush);
      },
      onConnectionStateChange: (s: { state: string }) => setState(s.state === "pending" ? "live" : s.state === "connecting" ? "reconnecting" : "connecting"),
      onError: () => setState("reconnecting"),
    };
    const sub = taskId
      ? client.trpc.tasks.onEvents.subscribe({ id: taskId, lastEventId }, handlers)
      : client.trpc.events.onCodebaseEvents.subscribe({ codebaseId: codebaseId!, sessionId, lastEventId }, handlers);
    return () => {
      sub.unsubscribe();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [client, codebaseId, sessionId, taskId, from, enabled]);

  return { events: events.current, version, state };
}
