/**
 * Turns OpenCode's events for one session into CodeTether's events. Pure and
 * per run: it remembers only what it needs to avoid repeating itself (how much
 * text of each part was sent, each tool call's last state, which files were reported).
 */
import path from "node:path";
import type { NewEvent } from "../contracts/events.js";

const summaryLength = 200;

/** A short, single-line preview of a tool's input or output. */
function summarize(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > summaryLength ? `${line.slice(0, summaryLength - 1)}…` : line;
}

interface ToolState {
  status?: string;
  input?: Record<string, unknown>;
  output?: unknown;
  error?: unknown;
  title?: string;
  metadata?: Record<string, unknown>;
}

/** A token count as the usage event takes it: whole and never negative, whatever a provider reports. */
const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.min(Math.round(n), Number.MAX_SAFE_INTEGER) : 0);

export class RunTranslator {
  private readonly roles = new Map<string, string>();
  /** Which model and agent wrote each assistant message, for its usage events. */
  private readonly writers = new Map<string, { model?: string; agent?: string }>();
  private readonly partKinds = new Map<string, string>();
  private readonly sentLength = new Map<string, number>();
  private readonly toolStatus = new Map<string, string>();
  private readonly reportedFiles = new Set<string>();
  /** A run starts as "running" (the runner says so before OpenCode does). */
  private lastStatus: string | undefined = "running";
  /** Model steps seen, for the max_iterations guard. */
  steps = 0;
  /** US dollars the run's steps cost so far, for the max_cost_usd guard. */
  cost = 0;
  /** Set by `session.error`; decides how the run completes. */
  errorName: string | undefined;
  errorMessage: string | undefined;
  /** Since when the provider has been failing (OpenCode retrying), and its last message; cleared once it answers. */
  retrying: { since: number; message: string } | undefined;

  constructor(
    readonly sessionId: string,
    /** Paths inside this directory are reported relative to it. */
    private readonly root: string,
  ) {}

  /** Translates one OpenCode event of this session. */
  translate(type: string, props: Record<string, unknown>): NewEvent[] {
    const session_id = this.sessionId;
    switch (type) {
      case "message.updated": {
        const info = props.info as { id: string; role: string; providerID?: unknown; modelID?: unknown; agent?: unknown; mode?: unknown };
        this.roles.set(info.id, info.role);
        if (info.role === "assistant") {
          const model = typeof info.providerID === "string" && typeof info.modelID === "string" ? `${info.providerID}/${info.modelID}` : undefined;
          const agent = typeof info.agent === "string" ? info.agent : typeof info.mode === "string" ? info.mode : undefined;
          this.writers.set(info.id, { ...(model ? { model } : {}), ...(agent ? { agent } : {}) });
        }
        return [];
      }
      case "message.part.delta": {
        const { messageID, partID, field, delta } = props as { messageID: string; partID: string; field: string; delta: string };
        if (field !== "text" || this.roles.get(messageID) !== "assistant" || !delta) return [];
        return this.text(this.partKinds.get(partID) ?? "text", messageID, partID, delta, true);
      }
      case "message.part.updated":
        return this.part(props.part as Record<string, unknown>);
      case "session.status": {
        const status = props.status as { type: string; message?: string; attempt?: number; next?: number };
        const name = status.type === "busy" ? "running" : status.type === "retry" ? "retrying" : status.type;
        if (name === this.lastStatus && name !== "retrying") return [];
        this.lastStatus = name;
        if (name === "retrying") this.retrying = { since: this.retrying?.since ?? Date.now(), message: status.message ?? "retrying" };
        const retry =
          name === "retrying"
            ? {
                ...(typeof status.attempt === "number" ? { attempt: status.attempt } : {}),
                ...(typeof status.next === "number" ? { next_attempt_at: new Date(status.next).toISOString() } : {}),
              }
            : {};
        return [{ type: "status", data: { session_id, status: name, ...(status.message ? { message: status.message } : {}), ...retry } }];
      }
      case "session.error": {
        const error = (props.error ?? {}) as { name?: string; data?: { message?: string } };
        this.errorName = error.name ?? "UnknownError";
        this.errorMessage = error.data?.message ?? this.errorName;
        if (this.errorName === "MessageAbortedError") this.errorMessage = "Aborted";
        return [{ type: "error", data: { session_id, name: this.errorName, message: this.errorMessage } }];
      }
      default:
        return [];
    }
  }

  private text(kind: string, messageID: string, partID: string, content: string, isDelta: boolean): NewEvent[] {
    if (kind !== "text" && kind !== "reasoning") return [];
    const sent = this.sentLength.get(partID) ?? 0;
    let piece = content;
    if (!isDelta) {
      if (content.length <= sent) return [];
      piece = content.slice(sent);
    }
    this.sentLength.set(partID, sent + piece.length);
    const type = kind === "text" ? "output" : "reasoning";
    return [{ type, data: { session_id: this.sessionId, message_id: messageID, part_id: partID, content: piece } }];
  }

  private part(part: Record<string, unknown>): NewEvent[] {
    const kind = String(part.type);
    const partID = String(part.id);
    const messageID = String(part.messageID);
    this.partKinds.set(partID, kind);
    const session_id = this.sessionId;
    this.retrying = undefined; // the model answered
    switch (kind) {
      case "text":
      case "reasoning":
        if (this.roles.get(messageID) !== "assistant" || typeof part.text !== "string") return [];
        return this.text(kind, messageID, partID, part.text, false);
      case "step-start":
        this.steps += 1;
        return [];
      case "step-finish": {
        const tokens = (part.tokens ?? {}) as { input?: number; output?: number; reasoning?: number; cache?: { read?: number; write?: number } };
        const cost = typeof part.cost === "number" && Number.isFinite(part.cost) && part.cost > 0 ? part.cost : 0;
        this.cost += cost;
        return [
          {
            type: "usage",
            data: {
              session_id,
              input_tokens: count(tokens.input),
              output_tokens: count(tokens.output),
              reasoning_tokens: count(tokens.reasoning),
              cache_read_tokens: count(tokens.cache?.read),
              cache_write_tokens: count(tokens.cache?.write),
              cost,
              ...this.writers.get(messageID),
            },
          },
        ];
      }
      case "tool":
        return this.tool(String(part.tool), String(part.callID ?? partID), (part.state ?? {}) as ToolState);
      case "patch":
        return ((part.files ?? []) as string[]).flatMap((file) => this.file("edited", file));
      default:
        return [];
    }
  }

  private tool(tool: string, callId: string, state: ToolState): NewEvent[] {
    const status = state.status as "pending" | "running" | "completed" | "error" | undefined;
    if (!status || this.toolStatus.get(callId) === status) return [];
    this.toolStatus.set(callId, status);
    const events: NewEvent[] = [
      {
        type: "tool_use",
        data: {
          session_id: this.sessionId,
          tool,
          call_id: callId,
          status,
          ...(state.title ? { title: state.title } : {}),
          ...(state.input && Object.keys(state.input).length > 0 ? { input: summarize(state.input) } : {}),
          ...(status === "completed" && state.output !== undefined ? { output: summarize(state.output) } : {}),
          ...(status === "error" ? { error: summarize(state.error) ?? "tool failed" } : {}),
        },
      },
    ];
    const file = state.input?.filePath;
    if (status === "completed" && typeof file === "string" && ["write", "edit", "multiedit", "apply_patch"].includes(tool)) {
      const existed = state.metadata?.exists;
      events.push(...this.file(tool === "write" && existed === false ? "created" : "edited", file));
    }
    return events;
  }

  private file(action: "created" | "edited" | "deleted", file: string): NewEvent[] {
    const absolute = path.resolve(this.root, file);
    if (this.reportedFiles.has(absolute)) return [];
    this.reportedFiles.add(absolute);
    const rel = path.relative(this.root, absolute);
    const shown = rel.startsWith("..") || path.isAbsolute(rel) ? absolute : rel;
    return [{ type: "file_change", data: { session_id: this.sessionId, action, path: shown } }];
  }
}
