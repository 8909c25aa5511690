/**
 * Usage and budgets with the real OpenCode: the scripted model is priced (see
 * opencode-sandbox.ts), so every step costs something. Totals must equal the sum
 * of the run's usage events; a run over its budget stops with BudgetExceeded.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { testDrivers } from "../support/db.js";
import { connectSse, type SseConnection } from "../support/sse-client.js";

const timeout = 120_000;

type Event = { type: string; data: Record<string, unknown> & { session_id: string | null } };

async function untilComplete(sse: SseConnection, sessionId: () => string | null): Promise<Event[]> {
  for (let n = 1; ; n++) {
    const all = (await sse.waitFor(n)).map((m) => ({ type: m.event!, data: JSON.parse(m.data) }));
    const last = all[n - 1]!;
    if (last.type === "complete" && last.data.session_id === sessionId()) return all.filter((e) => e.data.session_id === sessionId());
  }
}

for (const driver of testDrivers()) {
  describe(`usage and budgets end to end (${driver.name})`, { timeout: 600_000 }, () => {
    let s: AgentServer;
    let codebaseId: string;

    before(async () => {
      s = await startAgentServer(driver);
      const dir = await s.sandbox.createCodebase("priced");
      const res = await s.api("POST", "/v1/opencode/codebases", { name: "priced", path: dir });
      codebaseId = res.body.id;
    });
    after(() => s?.close());

    const run = async (prompt: string) => {
      const sse = await connectSse(`${s.server.url}/v1/opencode/codebases/${codebaseId}/events?last_event_id=0`);
      const trigger = await s.api("POST", `/v1/opencode/codebases/${codebaseId}/trigger`, { prompt, new_session: true });
      assert.equal(trigger.status, 202, JSON.stringify(trigger.body));
      const events = await untilComplete(sse, () => trigger.body.session_id);
      sse.close();
      return { sessionId: trigger.body.session_id as string, events };
    };

    test("a session's, its codebase's and the report's totals are the sums of the usage events", { timeout }, async () => {
      s.llm.setScript([{ tool: "write", args: { filePath: "a.txt", content: "a\n" } }, { text: "Wrote a.txt." }]);
      const { sessionId, events } = await run("Write a.txt");
      const usage = events.filter((e) => e.type === "usage").map((e) => e.data as unknown as Record<string, number | string>);
      assert.equal(usage.length, 2, "one usage event per model step");
      assert.equal(usage[0]!.model, "fake/fake-model", "the step names its model");
      const sum = (field: string) => usage.reduce((n, u) => n + Number(u[field]), 0);
      const session = (await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}`)).body;
      assert.equal(session.usage.steps, 2);
      for (const field of ["input_tokens", "output_tokens", "reasoning_tokens", "cache_read_tokens", "cache_write_tokens"]) {
        assert.equal(session.usage[field], sum(field), field);
      }
      assert.ok(Math.abs(session.usage.cost - sum("cost")) < 1e-12 && session.usage.cost > 0, `${session.usage.cost} vs ${sum("cost")}`);

      const report = (await s.api("GET", `/v1/opencode/usage?group_by=model,worker,agent&codebase_id=${codebaseId}`)).body;
      assert.equal(report.groups.length, 1);
      assert.deepEqual(
        { model: report.groups[0].model, worker: report.groups[0].worker, agent: report.groups[0].agent },
        { model: "fake/fake-model", worker: "local", agent: "build" },
      );
      const codebase = (await s.api("GET", `/v1/opencode/codebases/${codebaseId}`)).body;
      assert.deepEqual(report.total, codebase.usage, "the report over the last 30 days is everything so far");
      assert.equal(codebase.usage.steps, 2);
    });

    test("a run past max_cost_usd is stopped: error BudgetExceeded, complete failed", { timeout }, async () => {
      // One step costs 10 × $3 + 5 × $15 per million tokens = $0.000105: the second passes a $0.00015 budget.
      const patch = await s.api("PATCH", `/v1/opencode/codebases/${codebaseId}`, { agent_config: { max_cost_usd: 0.00015 } });
      assert.equal(patch.status, 200, JSON.stringify(patch.body));
      s.llm.setScript([
        { tool: "write", args: { filePath: "b1.txt", content: "1\n" } },
        { tool: "write", args: { filePath: "b2.txt", content: "2\n" } },
        // The model takes its time here, so the stop (sent once the second step's cost is in) always lands before
        // this step ends, however fast OpenCode runs the steps before it.
        { tool: "write", args: { filePath: "b3.txt", content: "3\n" }, delayMs: 60_000 },
        { tool: "write", args: { filePath: "b4.txt", content: "4\n" } },
        { text: "All four written." },
      ]);
      const { sessionId, events } = await run("Write four files");
      const error = events.find((e) => e.type === "error");
      assert.equal(error?.data.name, "BudgetExceeded", JSON.stringify(events.map((e) => e.type)));
      assert.match(String(error?.data.message), /budget of \$0\.00015/);
      const complete = events.at(-1)!;
      assert.equal(complete.data.status, "failed");
      assert.match(String(complete.data.error), /max_cost_usd/);
      const steps = events.filter((e) => e.type === "usage").length;
      assert.ok(steps >= 2 && steps < 5, `stopped after the step that passed the budget (${steps} steps)`);
      const session = (await s.api("GET", `/v1/opencode/codebases/${codebaseId}/sessions/${sessionId}`)).body;
      assert.equal(session.status, "failed");
      assert.equal(session.usage.steps, steps);
      await s.api("PATCH", `/v1/opencode/codebases/${codebaseId}`, { agent_config: {} });
    });
  });
}
