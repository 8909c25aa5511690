/**
 * Quickstart: register a codebase, run an agent on it and read its events as they come,
 * then resume the event stream from a cursor, as an app does after a reconnect.
 *
 *   CODETETHER_URL=http://localhost:8000 CODETETHER_API_KEY=... \
 *   CODEBASE_PATH=/absolute/path/to/a/git/repo npx tsx quickstart.ts
 */
import { type AgentEvent, createCodeTetherClient } from "@codetether/sdk";

const repo = process.env.CODEBASE_PATH;
if (!repo) throw new Error("Set CODEBASE_PATH to the absolute path of a git repository on the server's machine");

const ct = createCodeTetherClient({
  url: process.env.CODETETHER_URL ?? "http://localhost:8000",
  apiKey: process.env.CODETETHER_API_KEY,
});

// What the server can run, and what it recommends.
const { models, recommended } = await ct.listModels();
console.log(`models: ${models.length}, recommended ${recommended}`);

// Register the repository once; later runs find it again.
const codebase = (await ct.listCodebases()).find((c) => c.path === repo) ?? (await ct.createCodebase({ name: "quickstart", path: repo }));
console.log(`codebase: ${codebase.name} ${codebase.id}`);

// Start the agent and read its events until the run completes.
const run = await ct.trigger(codebase.id, { prompt: "Create hello.txt with a friendly greeting" });
console.log(`session: ${run.response.session_id}`);
const seen: AgentEvent[] = [];
let said = "";
for await (const event of run) {
  seen.push(event);
  if (event.type === "output") said += event.data.content; // text arrives in chunks
  if (event.type === "file_change") console.log(`file ${event.data.action}: ${event.data.path}`);
  if (event.type === "complete") console.log(`run ${event.data.status} after ${seen.length} events`);
}
console.log(`agent said: ${said}`);

// The run worked in a git worktree of its own: review its diff, then bring it into the repository.
const diff = await ct.diff(codebase.id, run.response.session_id!);
console.log(`diff: ${diff.files.map((f) => `${f.status} ${f.path} +${f.additions} -${f.deletions}`).join(", ")} on ${diff.branch}`);
const applied = await ct.applyChanges(codebase.id, run.response.session_id!, { mode: "merge" });
console.log(`applied: ${applied.files?.join(", ")} into ${applied.target_branch} at ${applied.commit?.slice(0, 8)}`);

// Resume after an event you saw: the stream replays only what came later.
const cursor = seen[1]!.id;
let later = 0;
for await (const event of ct.events(codebase.id, { sessionId: run.response.session_id, lastEventId: cursor })) {
  later++;
  if (event.type === "complete") break;
}
console.log(`resumed after event ${cursor}: ${later} later events`);
