/**
 * The Dockerfile, compose.yaml and the systemd unit cannot be built or started on this
 * machine (it has no container engine running and no systemd), so they are kept in step
 * with the real commands here: every file they copy exists, every command and flag they
 * run is one the CLIs accept, every setting they pass is one the server reads and the
 * README documents, and the health check asks a route that answers.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { repoRoot } from "../support/cli.js";

const read = (file: string) => readFileSync(path.join(repoRoot, file), "utf8");
const dockerfile = read("Dockerfile");
const compose = parse(read("compose.yaml")) as {
  services: Record<string, { build?: { target: string }; environment?: Record<string, string>; command?: string[]; image?: string }>;
};
const unit = read("deploy/codetether-worker.service");
const readme = read("README.md");

/** Settings the server and worker read: every `env.NAME` in src/config.ts. */
const knownSettings = new Set([...read("src/config.ts").matchAll(/env\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!));
/** Provider keys are OpenCode's, passed through the environment (README: "Connect a model provider"). */
const isProviderKey = (name: string) => /^[A-Z]+_API_KEY$/.test(name) && name !== "CODETETHER_API_KEY";

/** The `--flags` a command line uses. */
const flagsOf = (args: string[]) => args.filter((a) => a.startsWith("--"));

/** The flags `codetether-worker --help` lists. */
function workerFlags(): Set<string> {
  const out = spawnSync(process.execPath, [path.join(repoRoot, "bin/codetether-worker.mjs"), "--help"], { encoding: "utf8" }).stdout;
  return new Set([...out.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
}

describe("deployment files stay in step with the code", () => {
  test("the Dockerfile copies what exists, runs as a non-root user, and starts the real entry points", () => {
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)) {
      if (source === ".") continue;
      assert.ok(existsSync(path.join(repoRoot, source!)), `COPY ${source}: no such file`);
    }
    const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)/gm)].map((m) => m[1]);
    assert.ok(stages.includes("server") && stages.includes("worker"), `stages: ${stages.join(", ")}`);
    assert.match(dockerfile, /^USER codetether$/m, "runs as the codetether user");
    assert.ok(existsSync(path.join(repoRoot, "bin/codetether.mjs")) && dockerfile.includes('"bin/codetether.mjs", "serve"'));
    assert.ok(existsSync(path.join(repoRoot, "bin/codetether-worker.mjs")) && dockerfile.includes('"bin/codetether-worker.mjs"'));
    assert.match(dockerfile, /HEALTHCHECK[\s\S]*\/health/, "a health check on /health");
    for (const [, name] of dockerfile.matchAll(/^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]+)=/gm)) {
      if (["NODE_ENV", "HOME"].includes(name!)) continue;
      assert.ok(knownSettings.has(name!), `Dockerfile sets ${name}, which nothing reads`);
    }
    // What the image leaves out must not be needed at run time.
    const ignored = read(".dockerignore").split("\n").filter(Boolean);
    for (const needed of ["src", "bin", "drizzle", "patches", "web", "scripts"]) assert.ok(!ignored.includes(needed), `.dockerignore drops ${needed}`);
  });

  test("compose.yaml builds the Dockerfile's stages and passes only settings the server reads", () => {
    const stages = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)/gm)].map((m) => m[1]));
    const { server, worker, postgres } = compose.services;
    assert.ok(server && worker && postgres, "server, worker and postgres");
    assert.ok(stages.has(server.build!.target) && stages.has(worker.build!.target));
    for (const [service, def] of Object.entries(compose.services)) {
      if (def.image) continue; // postgres' own settings
      for (const name of Object.keys(def.environment ?? {})) {
        assert.ok(knownSettings.has(name) || isProviderKey(name), `${service} sets ${name}, which nothing reads`);
        if (!isProviderKey(name)) assert.ok(readme.includes(`\`${name}\``), `${name} is not documented in the README`);
      }
    }
    assert.match(server.environment!.DATABASE_URL!, /@postgres:5432\//, "the server uses the compose Postgres");
    const flags = workerFlags();
    for (const flag of flagsOf(worker.command!)) assert.ok(flags.has(flag), `the worker takes no ${flag}`);
    assert.equal(worker.command![worker.command!.indexOf("--server") + 1], "http://server:8000", "the worker finds the server");
  });

  test("the systemd unit runs the worker with flags it takes and settings it reads", () => {
    const exec = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(/\s+/);
    assert.equal(exec[1], "/opt/codetether/bin/codetether-worker.mjs");
    const flags = workerFlags();
    for (const flag of flagsOf(exec)) assert.ok(flags.has(flag), `the worker takes no ${flag}`);
    assert.match(unit, /^KillSignal=SIGTERM$/m, "a graceful stop hands tasks back");
    const env = read("deploy/worker.env.example");
    const used = new Set([...unit.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]!));
    for (const name of used) assert.match(env, new RegExp(`^${name}=`, "m"), `worker.env.example lacks ${name}`);
    for (const [, name] of env.matchAll(/^([A-Z][A-Z0-9_]+)=/gm)) {
      assert.ok(knownSettings.has(name!) || isProviderKey(name!) || used.has(name!), `worker.env.example sets ${name}, which nothing reads`);
    }
  });

  test("the README shows them", () => {
    for (const file of ["Dockerfile", "compose.yaml", "deploy/codetether-worker.service"]) assert.ok(readme.includes(file), `README mentions ${file}`);
  });
});
