/**
 * CodeTether as an MCP server: the same service verbs as REST and tRPC, as MCP tools
 * whose input schemas are the services' own zod schemas, plus two resources (a
 * codebase's recent events, a session's transcript). A failure comes back as a tool
 * error with the message the REST shim would answer, never as a protocol failure.
 */
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { roleAllows, systemCaller } from "../contracts/access.js";
import { asServiceError } from "../contracts/errors.js";
import type { Logger } from "../observability/log.js";
import { packageVersion } from "../package-root.js";
import { getCodebase } from "../services/codebases/codebases.js";
import type { ServiceContext } from "../services/context.js";
import { getSession } from "../services/sessions/sessions.js";
import { type Extra, mcpTools, transcript } from "./tools.js";

/** The tool's answer: JSON text for any client, the same object as structured content for those that read it (a list as `items`). */
function ok(value: unknown): CallToolResult {
  const structured = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { items: value };
  return { content: [{ type: "text", text: JSON.stringify(structured, null, 2) }], structuredContent: structured };
}

/** Runs a service verb; its failures become tool errors with the REST shim's messages. */
async function call(log: Logger, tool: string, run: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return ok(await run());
  } catch (err) {
    const known = asServiceError(err);
    if (!known) log.error({ err, mcp_tool: tool }, "MCP tool failed with an unexpected error");
    return { isError: true, content: [{ type: "text", text: known ? known.message : "Internal server error" }] };
  }
}

export function createMcpServer(ctx: ServiceContext): McpServer {
  const server = new McpServer({ name: "codetether", version: packageVersion }, { capabilities: { logging: {} } });
  const log = ctx.log;
  // A caller is offered only the tools its role allows (a viewer's agent sees no trigger_agent to try).
  const caller = ctx.caller ?? systemCaller;
  for (const t of mcpTools(ctx).filter((tool) => roleAllows(caller.role, tool.access))) {
    server.registerTool(
      t.name,
      {
        title: t.title,
        description: t.description,
        inputSchema: t.input,
        annotations: { ...(t.access === "read" ? { readOnlyHint: true } : {}), ...(t.destructive ? { destructiveHint: true } : {}) },
      },
      // biome-ignore lint/suspicious/noExplicitAny: the table types each tool's input; the SDK sees them all as one
      (input: any, extra: Extra) => call(log, t.name, () => t.run(input, extra)),
    );
  }

  server.registerResource(
    "codebase-events",
    new ResourceTemplate("codetether://codebases/{codebase_id}/events", { list: undefined }),
    { title: "A codebase's recent events", description: "The newest 200 agent events of a codebase, as JSON", mimeType: "application/json" },
    async (uri, { codebase_id }) => {
      const id = String(codebase_id);
      await getCodebase({ ctx, id });
      const head = await ctx.events.head(id);
      const events = await ctx.events.read(id, Math.max(0, head - 200), 200);
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(events, null, 2) }] };
    },
  );
  server.registerResource(
    "session-transcript",
    new ResourceTemplate("codetether://codebases/{codebase_id}/sessions/{session_id}", { list: undefined }),
    { title: "A session's transcript", description: "The session's messages as text", mimeType: "text/plain" },
    async (uri, { codebase_id, session_id }) => {
      const session = await getSession({ ctx, codebaseId: String(codebase_id), sessionId: String(session_id) });
      return { contents: [{ uri: uri.href, mimeType: "text/plain", text: transcript(session.messages).text }] };
    },
  );
  return server;
}
