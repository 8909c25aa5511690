/**
 * The MCP endpoint with the official SDK's own client over real HTTP: the key is
 * required; every tool's happy path and an error path (errors are tool errors with
 * the REST shim's messages); `trigger_agent` with `wait: true` runs the real
 * `opencode` against the scripted model and answers the final text and the changed
 * file, with progress notifications on the way; the two resources read.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";

const key = "mcp-test-key";

async function connect(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: "codetether-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
  });
  await client.connect(transport);
  return client;
}

/** The tool's JSON answer, or its error text. */
function answer(result: unknown): { error?: string; value?: Record<string, unknown> } {
  const r = result as CallToolResult;
  const text = (r.content[0] as { text: string }).text;
  return r.isError ? { error: text } : { value: JSON.parse(text) as Record<string, unknown> };
}

describe("the MCP endpoint (/mcp)", { timeout: 300_000 }, () => {
  let s: AgentServer;
  let client: Client;
  let dir: string;
  let codebaseId: string;
  before(async () => {
    s = await startAgentServer(undefined, { apiKey: key });
    dir = await s.sandbox.createCodebase("mcp-app");
    client = await connect(s.server.url, key);
  });
  after(async () => {
    await client?.close();
    await s.close();
  });
  const callTool = async (name: string, args: Record<string, unknown> = {}) => answer(await client.callTool({ name, arguments: args }));

  test("a client without the key is refused", async () => {
    await assert.rejects(connect(s.server.url), /401|Not authenticated|Unauthorized/i);
    await assert.rejects(connect(s.server.url, "wrong-key"), /401|Not authenticated|Unauthorized/i);
  });

  test("lists the tools, each with a description and a JSON schema", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, [
      "abort_session",
      "apply_changes",
      "cancel_task",
      "create_task",
      "discard_changes",
      "get_codebase",
      "get_diff",
      "get_session",
      "get_status",
      "get_task",
      "get_usage",
      "list_codebases",
      "list_models",
      "list_sessions",
      "list_tasks",
      "list_workers",
      "push_branch",
      "register_codebase",
      "retry_task",
      "trigger_agent",
    ]);
    for (const t of tools) {
      assert.ok(t.description && t.description.length > 20, `${t.name} is described`);
      assert.equal(t.inputSchema.type, "object");
    }
    const trigger = tools.find((t) => t.name === "trigger_agent")!;
    for (const field of ["codebase_id", "prompt", "agent", "wait"]) assert.ok(field in (trigger.inputSchema.properties ?? {}), `trigger_agent takes ${field}`);
  });

  test("codebases: register, list, get; errors carry the REST shim's messages", async () => {
    const made = await callTool("register_codebase", { name: "mcp-app", path: dir });
    codebaseId = made.value!.id as string;
    assert.equal(made.value!.name, "mcp-app");
    const listed = await callTool("list_codebases");
    assert.ok((listed.value!.items as { id: string }[]).some((c) => c.id === codebaseId));
    assert.equal((await callTool("get_codebase", { codebase_id: codebaseId })).value!.path, dir);

    const missing = await callTool("get_codebase", { codebase_id: "no-such-codebase" });
    const rest = await s.api("GET", "/v1/opencode/codebases/no-such-codebase");
    assert.equal(missing.error, rest.body.detail, "the same message as REST");
    const duplicate = await callTool("register_codebase", { name: "mcp-app", path: dir });
    assert.match(duplicate.error!, /already/i);
    const relative = await client.callTool({ name: "register_codebase", arguments: { name: "rel", path: "not/absolute" } });
    assert.equal((relative as CallToolResult).isError, true, "invalid input is a tool error, not a protocol failure");
  });

  test("trigger_agent with wait: true runs the real agent and answers its final text and the file it changed, with progress", async () => {
    s.llm.setScript([{ tool: "write", args: { filePath: "from-mcp.txt", content: "written via MCP\n" } }, { text: "Wrote from-mcp.txt for you." }]);
    const progress: string[] = [];
    const result = await client.callTool(
      { name: "trigger_agent", arguments: { codebase_id: codebaseId, prompt: "Write from-mcp.txt", wait: true, wait_seconds: 120 } },
      undefined,
      { onprogress: (p) => progress.push(String(p.message)), timeout: 180_000, resetTimeoutOnProgress: true },
    );
    const run = answer(result).value!;
    assert.equal(run.outcome, "completed", JSON.stringify(run));
    assert.equal(run.final_text, "Wrote from-mcp.txt for you.");
    assert.deepEqual(run.files_changed, [{ action: "created", path: "from-mcp.txt" }]);
    assert.match(String(run.session_id), /^ses_/);
    assert.equal(await readFile(path.join(String((run.worktree as { path: string }).path), "from-mcp.txt"), "utf8"), "written via MCP\n");
    // Its changes, read and applied through the tools too.
    const diff = await callTool("get_diff", { codebase_id: codebaseId, session_id: run.session_id });
    assert.deepEqual(
      (diff.value!.files as { path: string }[]).map((f) => f.path),
      ["from-mcp.txt"],
    );
    const applied = await callTool("apply_changes", { codebase_id: codebaseId, session_id: run.session_id, mode: "fast-forward" });
    assert.equal(applied.value!.state, "applied", applied.error);
    assert.equal(await readFile(path.join(dir, "from-mcp.txt"), "utf8"), "written via MCP\n");
    const twice = await callTool("discard_changes", { codebase_id: codebaseId, session_id: run.session_id });
    assert.match(twice.error!, /already applied/);
    const unnamed = await callTool("get_diff", {});
    assert.match(unnamed.error!, /task_id, or codebase_id and session_id/);
    assert.ok(
      progress.some((m) => m.startsWith("status: running")),
      `progress says the run started: ${progress.join(" | ")}`,
    );
    assert.ok(
      progress.some((m) => m.startsWith("file created: from-mcp.txt")),
      "progress names the file",
    );

    const sessions = await callTool("list_sessions", { codebase_id: codebaseId });
    assert.ok((sessions.value!.items as { id: string }[]).some((x) => x.id === run.session_id));
    const session = await callTool("get_session", { codebase_id: codebaseId, session_id: run.session_id });
    assert.match((session.value!.transcript as { text: string }).text, /Wrote from-mcp\.txt for you\./);
    assert.match((await callTool("get_session", { codebase_id: codebaseId, session_id: "ses_nope" })).error!, /not found/i);
    // Not running any more: aborting it is the REST shim's 409, as a tool error.
    assert.match((await callTool("abort_session", { codebase_id: codebaseId, session_id: run.session_id })).error!, /not running/);

    const events = await client.readResource({ uri: `codetether://codebases/${codebaseId}/events` });
    const stored = JSON.parse((events.contents[0] as { text: string }).text) as { type: string }[];
    assert.ok(stored.some((e) => e.type === "file_change"));
    const transcript = await client.readResource({ uri: `codetether://codebases/${codebaseId}/sessions/${run.session_id}` });
    assert.match((transcript.contents[0] as { text: string }).text, /Wrote from-mcp\.txt/);
  });

  test("trigger_agent without wait answers at once with the session", async () => {
    s.llm.setScript([{ text: "Quick." }]);
    const started = await callTool("trigger_agent", { codebase_id: codebaseId, prompt: "Be quick", new_session: true });
    assert.match(String(started.value!.session_id), /^ses_/);
    assert.equal(started.value!.status, "running");
    assert.match((await callTool("trigger_agent", { codebase_id: "nope", prompt: "x" })).error!, /Codebase not found/);
  });

  test("tasks, models, workers and status", async () => {
    const task = await callTool("create_task", { codebase_id: codebaseId, title: "later", prompt: "Do it later", priority: 3 });
    const id = task.value!.id as string;
    assert.equal((await callTool("get_task", { task_id: id })).value!.title, "later");
    const listed = await callTool("list_tasks", { codebase_id: codebaseId });
    assert.ok((listed.value!.items as { id: string }[]).some((t) => t.id === id));
    const cancelled = await callTool("cancel_task", { task_id: id });
    assert.ok(["cancelled", "running", "completed"].includes(String(cancelled.value!.status)));
    assert.match((await callTool("get_task", { task_id: "nope" })).error!, /Task not found/);
    if (cancelled.value!.status === "cancelled") assert.equal((await callTool("retry_task", { task_id: id })).value!.status, "pending");
    const usage = await callTool("get_usage", { group_by: "codebase" });
    assert.ok((usage.value!.total as { steps: number }).steps >= 1, "the MCP run's steps are counted");
    assert.match((await callTool("create_task", { codebase_id: codebaseId, title: "x", prompt: "y", model: "nobody/none" })).error!, /model/i);
    const models = await callTool("list_models");
    assert.ok(Array.isArray(models.value!.models));
    assert.ok(Array.isArray((await callTool("list_workers")).value!.items));
    assert.equal((await callTool("get_status")).value!.available, true);
  });
});
