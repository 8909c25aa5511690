/**
 * An isolated home for the real OpenCode: its own HOME/XDG dirs, a seeded config
 * dir (so it never runs npm), the offline flags, and a provider pointing at the
 * fake model server. Codebases are git repositories with one commit, as OpenCode wants.
 */
import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runGit } from "./git-repo.js";

export interface OpencodeSandbox {
  root: string;
  /** Full environment for spawning opencode (or a server that spawns it). */
  env: NodeJS.ProcessEnv;
  /** The same settings with a HOME of its own: OpenCode as it runs on another machine (its own sessions database). */
  machineEnv(name: string): Promise<NodeJS.ProcessEnv>;
  createCodebase(name: string, files?: Record<string, string>): Promise<string>;
  cleanup(): Promise<void>;
}

export function opencodeConfig(llmUrl: string) {
  return {
    $schema: "https://opencode.ai/config.json",
    model: "fake/fake-model",
    small_model: "fake/fake-model",
    enabled_providers: ["fake"],
    autoupdate: false,
    share: "disabled",
    permission: { webfetch: "deny" },
    provider: {
      fake: {
        npm: "@ai-sdk/openai-compatible",
        name: "Fake LLM",
        options: { baseURL: llmUrl, apiKey: "fake-key" },
        // A price, so runs cost something (USD per million tokens): usage, totals and budgets have numbers to add up.
        models: { "fake-model": { name: "Fake Model", tool_call: true, limit: { context: 128000, output: 4096 }, cost: { input: 3, output: 15 } } },
      },
    },
  };
}

/** A fresh HOME with XDG dirs and a seeded OpenCode config dir, so OpenCode never runs npm. */
async function createHome(home: string, tmp: string): Promise<NodeJS.ProcessEnv> {
  const dirs = {
    XDG_DATA_HOME: path.join(home, ".local/share"),
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    XDG_STATE_HOME: path.join(home, ".local/state"),
    TMPDIR: tmp,
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const configDir = path.join(dirs.XDG_CONFIG_HOME, "opencode");
  await mkdir(path.join(configDir, "node_modules"), { recursive: true });
  await writeFile(path.join(configDir, "package.json"), JSON.stringify({ dependencies: { "@opencode-ai/plugin": "*" } }));
  await writeFile(
    path.join(configDir, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies: { "@opencode-ai/plugin": "*" } } } }),
  );
  return { HOME: home, ...dirs };
}

export async function createOpencodeSandbox(opts: { llmUrl: string }): Promise<OpencodeSandbox> {
  const root = await realpath(await mkdtemp(path.join(os.tmpdir(), "ct-oc-")));
  // OpenCode's catalog of providers (models.dev) without its entries: `enabled_providers` lets only the scripted one
  // through, which the config defines whole, so the rest were never seen. OpenCode rebuilds its catalog for each
  // directory it serves (every worktree run is a new one): about twice the CPU of a directory's first prompt with the
  // full catalog, as bench/opencode-directories.ts measures.
  const catalog = path.join(root, "models.json");
  await writeFile(catalog, "{}");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ...(await createHome(path.join(root, "home"), path.join(root, "tmp"))),
    OPENCODE_CONFIG_CONTENT: JSON.stringify(opencodeConfig(opts.llmUrl)),
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_MODELS_PATH: catalog,
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_DISABLE_EXTERNAL_SKILLS: "1",
    OPENCODE_DISABLE_CLAUDE_CODE: "1",
    OPENCODE_DISABLE_SHARE: "1",
    OPENCODE_PURE: "1",
    // JavaScriptCore's allocator on the system's malloc (WebKit's bmalloc switch): its own (libpas) hands memory back
    // to the kernel a few pages at a time, ~3,700 madvise calls a second in a test's OpenCode, each a TLB flush on
    // every core; on a virtual machine that is most of OpenCode's system time. The bridge tests on this 2-core VM took
    // 54-56 s of CPU and 43-49 s of wall time on libpas, 39-41 s and 31-33 s on malloc (two runs each).
    Malloc: "1",
  };
  return {
    root,
    env,
    async machineEnv(name) {
      const home = path.join(root, "machines", name);
      return { ...env, ...(await createHome(path.join(home, "home"), path.join(home, "tmp"))) };
    },
    async createCodebase(name, files = { "README.md": `# ${name}\n` }) {
      const dir = path.join(root, "code", name);
      await mkdir(dir, { recursive: true });
      for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
      await runGit(dir, "init", "-q");
      await runGit(dir, "add", "-A");
      // A distinct root commit per codebase: OpenCode names a project after its root commit.
      await runGit(dir, "commit", "-qm", `init ${name} ${dir}`);
      return dir;
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
