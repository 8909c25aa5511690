/** Small helpers for benchmark figures. */
import { readdir, readFile } from "node:fs/promises";

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summary(values: number[]): { n: number; median: number; p99: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, median: percentile(sorted, 50), p99: percentile(sorted, 99), min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}

/** The middle of several rounds' figures (the upper middle of an even count), as the README's "medians of N" are. */
export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export const ms = (v: number) => `${v.toFixed(2)} ms`;

/**
 * CPU time so far (user and system, in ms) of one process, or of every process named postgres (the database's
 * share: its backends live as long as the pools' connections do). The kernel counts it in clock ticks, 100 a second.
 */
export async function cpuMs(which: number | "postgres"): Promise<number> {
  const pids = which === "postgres" ? (await readdir("/proc")).filter((pid) => /^\d+$/.test(pid)) : [String(which)];
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    if (which === "postgres" && !stat.includes("(postgres)")) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks * 10;
}
