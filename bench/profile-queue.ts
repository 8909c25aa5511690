/**
 * Where the time goes in the queue benchmark, one task per call on Postgres (server and its 48 clients share this
 * process, as in `npm run bench -- queue`):
 * `DATABASE_URL=… node --import tsx --cpu-prof --cpu-prof-dir=/tmp/queue-profile bench/profile-queue.ts`, then
 * `node --import tsx bench/profile-queue.ts --read /tmp/queue-profile` prints the main thread's time by package.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { postgresDriver } from "../test/support/db.js";
import { benchQueueThroughput } from "./queue.js";

interface Profile {
  nodes: { id: number; callFrame: { url: string; functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/** The package (or our own file, or V8's bucket) a frame's URL belongs to. */
function ownerOf(url: string, functionName: string): string {
  if (!url) return `(${functionName})`;
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/(src|bench|test)\/.*$/.exec(url);
  return own ? own[0].slice(1) : url.replace(/^node:internal\/.*$/, "node internals");
}

async function readProfile(dir: string): Promise<void> {
  // The main thread's profile is the largest (tsx's loader thread writes one too).
  const files = await Promise.all(
    (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile")).map(async (f) => ({ f, size: (await stat(path.join(dir, f))).size })),
  );
  const main = files.sort((a, b) => b.size - a.size)[0];
  if (!main) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(await readFile(path.join(dir, main.f), "utf8")) as Profile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byOwner = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id)!;
    const owner = ownerOf(frame.url, frame.functionName);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...byOwner.values()].reduce((a, b) => a + b, 0);
  for (const [owner, us] of [...byOwner.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${owner}`);
  }
}

if (process.argv[2] === "--read") {
  await readProfile(process.argv[3] ?? "/tmp/queue-profile");
} else {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("set DATABASE_URL: the profile is of the Postgres case");
  const driver = postgresDriver(url);
  await benchQueueThroughput({ kind: "server", driver }, 16, { total: 600 }); // warm-up
  const rate = await benchQueueThroughput({ kind: "server", driver }, 16, { total: 2000 });
  console.log(`${rate.toFixed(0)} tasks/s while profiled`);
}
