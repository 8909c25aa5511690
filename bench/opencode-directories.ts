/**
 * OpenCode's own CPU for what the tests and runs make it do: boot, the first prompt of the process, and the first
 * prompt in each further new directory (every worktree run is one), with its full models.dev catalog and with the
 * empty one the test sandbox gives it (`OPENCODE_MODELS_PATH`), alternating, side by side.
 *
 *   node --import tsx bench/opencode-directories.ts        (ROUNDS=3 DIRS=4)
 *
 * CPU is read from /proc for the `opencode serve` process alone (its threads included), so the clients here and the
 * scripted model do not count.
 */
import { readFileSync } from "node:fs";
import { findOpencodeBinary } from "../src/opencode/binary.js";
import { startOpencodeServer } from "../src/opencode/process.js";
import { startFakeLlm } from "../test/support/fake-llm.js";
import { createOpencodeSandbox } from "../test/support/opencode-sandbox.js";
import { median } from "./stats.js";

const rounds = Number(process.env.ROUNDS ?? 3);
const dirs = Number(process.env.DIRS ?? 4);
const binary =
  findOpencodeBinary() ??
  (() => {
    throw new Error("no opencode binary: run npm ci");
  })();
const ticks = 100; // clock ticks a second (USER_HZ)

/** Seconds of CPU a process has used, its threads included. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

interface Phases {
  boot: number;
  firstPrompt: number;
  newDirectory: number;
  sameDirectory: number;
}

async function measure(catalog: "full" | "empty"): Promise<Phases> {
  const llm = await startFakeLlm();
  const sandbox = await createOpencodeSandbox({ llmUrl: llm.url });
  const env = { ...sandbox.env };
  if (catalog === "full") delete env.OPENCODE_MODELS_PATH;
  const server = await startOpencodeServer({ binary, cwd: sandbox.root, env });
  const cpu = () => cpuOf(server.pid);
  try {
    const base = server.url;
    // What it does in the first second after listening counts as its boot.
    await new Promise((r) => setTimeout(r, 1000));
    const boot = cpu();
    const prompt = async (directory: string) => {
      const q = `?directory=${encodeURIComponent(directory)}`;
      const post = (route: string, body: unknown) =>
        fetch(`${base}${route}${q}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const session = (await (await post("/session", {})).json()) as { id: string };
      llm.setScript([{ text: "ok" }]);
      const answer = await post(`/session/${session.id}/message`, {
        parts: [{ type: "text", text: "hi" }],
        model: { providerID: "fake", modelID: "fake-model" },
      });
      if (!answer.ok) throw new Error(`prompt: ${answer.status} ${await answer.text()}`);
      await answer.text();
      // Work it finishes after answering (its writes, the session's status) counts to this prompt.
      await new Promise((r) => setTimeout(r, 500));
    };
    const cost = async (directory: string) => {
      const before = cpu();
      await prompt(directory);
      return cpu() - before;
    };
    const first = await sandbox.createCodebase("d0");
    const firstPrompt = await cost(first);
    const sameDirectory = await cost(first);
    const newDirectories: number[] = [];
    for (let i = 1; i < dirs; i++) newDirectories.push(await cost(await sandbox.createCodebase(`d${i}`)));
    return { boot, firstPrompt, newDirectory: median(newDirectories), sameDirectory };
  } finally {
    await server.stop();
    await llm.close();
    await sandbox.cleanup();
  }
}

const results: Record<"full" | "empty", Phases[]> = { full: [], empty: [] };
for (let round = 0; round < rounds; round++) {
  for (const catalog of round % 2 ? (["empty", "full"] as const) : (["full", "empty"] as const)) results[catalog].push(await measure(catalog));
}
const cell = (list: Phases[], k: keyof Phases) => `${median(list.map((p) => p[k])).toFixed(2)} s (${list.map((p) => p[k].toFixed(2)).join(", ")})`;
console.log(`| OpenCode CPU, medians of ${rounds} (each round) | full catalog | empty catalog |`);
console.log("| --- | --- | --- |");
for (const [k, label] of [
  ["boot", "boot (to 1 s after listening)"],
  ["firstPrompt", "first prompt of the process, in a new directory"],
  ["sameDirectory", "the next prompt in that directory"],
  ["newDirectory", `first prompt in each further new directory (median of ${dirs - 1})`],
] as const) {
  console.log(`| ${label} | ${cell(results.full, k)} | ${cell(results.empty, k)} |`);
}
process.exit(0);
