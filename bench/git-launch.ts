/**
 * What one git call costs a process that holds the embedded database, as a server on PGlite does: started from the
 * launcher's helper process (src/git/launcher.ts, what git() does) against started from this process (runCommand,
 * what git() did before), alternating in rounds, each call followed by the same database writes. Reported: this
 * process's CPU per call (its writes' included, the writes alone subtracted: the copy-on-write faults a fork leaves
 * fall on them), the whole machine's (git's own, and the helper's fork, included: from /proc/stat, so run it on an
 * otherwise idle machine), and how long the call held the event loop before it returned (the fork itself), medians.
 *
 *   npm run bench -- git
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { sql } from "drizzle-orm";
import { runCommand } from "../src/git/command.js";
import { git } from "../src/git/git.js";
import { pgliteDriver } from "../test/support/db.js";
import { runGit, scratch } from "../test/support/git-repo.js";
import { median } from "./stats.js";

const calls = 20;

/** CPU the whole machine has spent (every core, all but idle and iowait), in ms. */
function machineCpuMs(): number {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const busy = ticks.reduce((a, b) => a + b, 0) - ticks[3]! - ticks[4]!;
  return busy * 10; // USER_HZ is 100
}

export async function benchGitLaunch(rounds = Number(process.env.BENCH_ROUNDS ?? 5)): Promise<Record<string, string>> {
  const { database } = await pgliteDriver.create();
  const { dir, cleanup } = await scratch("ct-bench-git-");
  try {
    await runGit(dir, "init", "-q");
    await runGit(dir, "commit", "-q", "--allow-empty", "-m", "start");
    await database.db.execute(sql`create table bench_writes (n int, s text)`);
    const writes = async () => {
      for (let i = 0; i < 5; i++) await database.db.execute(sql`insert into bench_writes select g, repeat('x', 200) from generate_series(1, 200) g`);
    };
    const ways = {
      launcher: () => git(["rev-parse", "HEAD"], { cwd: dir }),
      "this process": () => runCommand({ file: "git", args: ["-C", dir, "rev-parse", "HEAD"], timeoutMs: 60_000 }),
      "writes alone": async () => {},
    };
    const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
    const held: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
    const machine: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
    // The first rounds warm up the database's memory and the launcher's process.
    for (const call of Object.values(ways)) for (let i = 0; i < 3; i++) await call().then(writes);
    for (let round = 0; round < rounds; round++) {
      const order = Object.entries(ways);
      if (round % 2) order.reverse();
      for (const [name, call] of order) {
        const before = process.cpuUsage();
        const machineBefore = machineCpuMs();
        for (let i = 0; i < calls; i++) {
          const t = performance.now();
          const called = call();
          held[name]!.push(performance.now() - t);
          await called;
          await writes();
        }
        const used = process.cpuUsage(before);
        cpu[name]!.push((used.user + used.system) / 1000 / calls);
        machine[name]!.push((machineCpuMs() - machineBefore) / calls);
      }
    }
    const base = median(cpu["writes alone"]!);
    const machineBase = median(machine["writes alone"]!);
    const row = (name: string) =>
      `${(median(cpu[name]!) - base).toFixed(1)} ms of this process's CPU a call (the machine's: ${(median(machine[name]!) - machineBase).toFixed(0)} ms); the call held the event loop ${median(held[name]!).toFixed(2)} ms`;
    const rss = Math.round(process.memoryUsage().rss / 1e6);
    return {
      [`a git call from a process holding the embedded database (${rss} MB), through the launcher (medians of ${rounds} rounds of ${calls})`]: row("launcher"),
      "… started from that process itself (as before the launcher)": row("this process"),
    };
  } finally {
    await database.close();
    await cleanup();
  }
}
