/**
 * The launcher (src/git/launcher.ts): commands, git's included, start from its small helper process rather than
 * from the process asking, a helper that dies fails what it held and is replaced, and a helper outlives neither
 * its parent nor, then, the commands it started.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as esbuild from "esbuild";
import { git } from "../../src/git/git.js";
import { launch } from "../../src/git/launcher.js";
import { repoRoot } from "../support/cli.js";
import { runGit, scratch } from "../support/git-repo.js";
import { eventually } from "../support/processes.js";

/** Running, not a zombie: /proc says so. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0] !== "Z";
  } catch {
    return false;
  }
}
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
const kill = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL");
  } catch {}
};

/** The pid of the process that started a command: the launcher's helper. */
async function launcherPid(): Promise<number> {
  const ran = await launch({ file: "sh", args: ["-c", "echo $PPID"], timeoutMs: 10_000 });
  assert.equal(ran.exitCode, 0, ran.stderr);
  return Number(ran.stdout.toString().trim());
}

describe("the launcher", { timeout: 60_000 }, () => {
  let tmp: Awaited<ReturnType<typeof scratch>>;
  const leftovers: number[] = [];
  before(async () => {
    tmp = await scratch("ct-launcher-");
  });
  after(async () => {
    for (const pid of leftovers) kill(pid);
    await tmp.cleanup();
  });

  test("commands start from its helper process, a child of this one, and git runs through it", async () => {
    const helper = await launcherPid();
    assert.notEqual(helper, process.pid);
    assert.equal(parentOf(helper), process.pid);
    assert.match(commandLine(helper), /launcher-child\.js/);
    assert.equal(await launcherPid(), helper, "one helper serves every call");

    await runGit(tmp.dir, "init", "-q");
    await runGit(tmp.dir, "commit", "-q", "--allow-empty", "-m", "start");
    const head = await git(["rev-parse", "HEAD"], { cwd: tmp.dir });
    assert.match(head.stdout.toString(), /^[0-9a-f]{40}\n$/);
    await assert.rejects(git(["rev-parse", "no-such-ref"], { cwd: tmp.dir }), { name: "GitError", message: /exit 128/ });
  });

  test("a helper that dies fails the commands it held, and the next call starts another", async () => {
    const pidFile = path.join(tmp.dir, "held.pid");
    const held = launch({ file: "sh", args: ["-c", 'echo "$PPID $$" > "$0.part" && mv "$0.part" "$0" && exec sleep 60', pidFile], timeoutMs: 60_000 });
    const [helper, sleeper] = (await eventually(async () => (existsSync(pidFile) ? readFileSync(pidFile, "utf8") : undefined), 10_000, "the command"))
      .trim()
      .split(" ")
      .map(Number) as [number, number];
    leftovers.push(sleeper);
    process.kill(helper, "SIGKILL");
    await assert.rejects(held, /launcher process exited \(SIGKILL\)/);
    // The command it started goes with it (its process group), so no git it ran holds a lock for nobody.
    await eventually(async () => (!alive(sleeper) ? true : undefined), 10_000, "the dead helper's command to end");
    const next = await launcherPid();
    assert.notEqual(next, helper);
    assert.ok(alive(next));
  });

  test("a command refused before it starts is answered as not started, and the helper carries on", async () => {
    const helper = await launcherPid();
    const refused = await launch({ file: "git", args: ["a\0b"], timeoutMs: 10_000 });
    assert.equal(refused.exitCode, null);
    assert.equal(refused.startError?.code, "ERR_INVALID_ARG_VALUE");
    assert.equal(await launcherPid(), helper);
    await assert.rejects(git(["log", "a\0b"], { cwd: tmp.dir }), { name: "GitError" });
  });

  test("a command that leaves something running with its output open is answered a second after it exits", async () => {
    const ran = await launch({ file: "sh", args: ["-c", "sleep 60 & echo $!"], timeoutMs: 30_000 });
    const background = Number(ran.stdout.toString().trim());
    leftovers.push(background);
    assert.equal(ran.exitCode, 0);
    assert.ok(alive(background), "the background job still holds the output");
  });

  test("a helper that stops answering fails the call once its timeout and 10 s have passed, and is replaced", async () => {
    const stuck = await launcherPid();
    process.kill(stuck, "SIGSTOP");
    try {
      await assert.rejects(launch({ file: "true", args: [], timeoutMs: 200 }), /did not answer within 10200 ms/);
      await eventually(async () => (!alive(stuck) ? true : undefined), 10_000, "the stuck helper to be killed");
    } finally {
      kill(stuck);
    }
    const next = await launcherPid();
    assert.notEqual(next, stuck);
  });

  test("a helper goes when its parent is SIGKILLed, and stops the commands it was running", async () => {
    const dir = path.join(repoRoot, ".tmp", `launcher-user-${process.pid}`);
    await mkdir(dir, { recursive: true });
    try {
      // Bundled inside the package, where the launcher finds its helper's file (dist/git/launcher-child.js).
      const script = path.join(dir, "launcher-user.mjs");
      await esbuild.build({
        entryPoints: [path.join(repoRoot, "test/support/launcher-user.ts")],
        outfile: script,
        bundle: true,
        format: "esm",
        platform: "node",
        logLevel: "warning",
      });
      const pidFile = path.join(tmp.dir, "user.pid");
      const user = spawn(process.execPath, [script, pidFile], { stdio: "inherit" });
      const exited = new Promise((resolve) => user.once("exit", resolve));
      const [helper, sleeper] = (await eventually(async () => (existsSync(pidFile) ? readFileSync(pidFile, "utf8") : undefined), 20_000, "the command"))
        .trim()
        .split(" ")
        .map(Number) as [number, number];
      leftovers.push(helper, sleeper);
      assert.equal(parentOf(helper), user.pid);
      user.kill("SIGKILL");
      await exited;
      await eventually(async () => (!alive(helper) && !alive(sleeper) ? true : undefined), 10_000, "the helper and its command to end");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
