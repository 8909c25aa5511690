/**
 * `npm run build -w @codetether/sdk` (rollup, about 7 s of CPU: its declaration bundle type-checks the server's
 * router), once per test run however many files need sdk/dist/: the first one builds it, under a lock, so no
 * file reads a dist/ another is halfway through writing. Outside run-tests.mjs (one file run by hand) it builds.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./cli.js";

const exec = promisify(execFile);
// Beside the run's compiled tests, which each run starts afresh: a lock a killed run left behind goes with them.
const lock = path.join(repoRoot, ".tmp", "test-build", "sdk-build.lock");

export async function buildSdk(): Promise<void> {
  const built = process.env.CODETETHER_TEST_RUN ? path.join(repoRoot, ".tmp", "test-build", "sdk-built") : null;
  if (built && existsSync(built)) return;
  await mkdir(path.dirname(lock), { recursive: true });
  // mkdir is atomic: whoever makes the directory builds; the others wait for it to go. A lock older than the
  // longest build is one a killed run left behind.
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const since = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (since > 120_000) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (built && existsSync(built)) return;
    await exec("npm", ["run", "build", "-w", "@codetether/sdk"], { cwd: repoRoot }).catch((err: { message: string; stdout?: string; stderr?: string }) => {
      throw new Error(`the SDK did not build: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    });
    if (built) await writeFile(built, "");
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
