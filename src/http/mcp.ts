/**
 * `/mcp`: the MCP endpoint over Streamable HTTP, on the same server, port and API key
 * as /v1. Stateless: each request gets its own MCP server over the one service
 * context, so any server process can answer any request (no session affinity).
 */
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createMcpServer } from "../mcp/server.js";
import type { Api } from "./openapi.js";

export function registerMcpRoute(app: Api): void {
  app.all("/mcp", async (c) => {
    const server = createMcpServer(c.var.ctx);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    const response = await transport.handleRequest(c.req.raw);
    // A streamed answer (progress, then the result) closes the server when it is done; a plain one now.
    if (!response.body) await server.close();
    else c.req.raw.signal.addEventListener("abort", () => void server.close(), { once: true });
    return response;
  });
}
