/** `codetether-worker`: runs OpenCode agents for a CodeTether server on this machine. It parses its arguments before it loads the worker. */
import { statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig, parseProviderConfig } from "../config.js";

const usage = `Usage: codetether-worker --server <url> [--name <name>] --codebase <name:path|path> [...]

Claims tasks from a CodeTether server and runs them with OpenCode on this machine.

Options:
  --server <url>        The CodeTether server (required), e.g. https://codetether.example.com
  --name <name>         This worker's name (default: the host name)
  --codebase <spec>     A codebase here, as name:path or just path (name = the directory's name).
                        Repeat for several.
  --token <token>       Worker token (default CODETETHER_WORKER_TOKEN, else CODETETHER_API_KEY)
  --concurrency <n>     Tasks run at once (default 1)
  --drain-seconds <n>   On SIGTERM, how long running tasks may finish before they are handed back (default 30)
  --opencode-config <f> Providers and models for this worker's OpenCode: an opencode.json (default
                        CODETETHER_OPENCODE_CONFIG); an edit applies to the next task
  --worktree-dir <dir>  Where runs on git codebases get their worktrees (default CODETETHER_WORKTREE_DIR,
                        else $XDG_DATA_HOME/codetether/worktrees, else ~/.local/share/codetether/worktrees)
  -h, --help            Show this help

OpenCode is found and started as for the server: OPENCODE_BIN, OPENCODE_HOST, OPENCODE_PORT, OPENCODE_AUTO_START.
Provider API keys (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...) in this environment reach it too; the worker
reports the models it can run to the server, which sends it only tasks for those models.`;

function fail(message: string): never {
  console.error(`codetether-worker: ${message}`);
  process.exit(2);
}

const nameRe = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** `name:path` or `path`; the path must be an existing absolute directory. */
function parseCodebase(spec: string): { name: string; path: string } {
  const colon = spec.indexOf(":");
  const [name, dir] = colon > 0 && !spec.startsWith("/") ? [spec.slice(0, colon), spec.slice(colon + 1)] : [path.basename(spec), spec];
  if (!nameRe.test(name)) throw new Error(`--codebase ${spec}: name "${name}" must be 1-100 letters, digits, '.', '_' or '-'`);
  const resolved = path.resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(resolved).isDirectory();
  } catch {}
  if (!isDir) throw new Error(`--codebase ${spec}: ${resolved} is not an existing directory`);
  return { name, path: resolved };
}

/** A worker's own worktree directory, beside its other data (XDG), never inside a codebase. */
function defaultWorktreeDir(env: NodeJS.ProcessEnv): string {
  const data = env.XDG_DATA_HOME?.trim() || path.join(os.homedir(), ".local", "share");
  return path.join(data, "codetether", "worktrees");
}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) fail(`${flag} must be a whole number from 1 to 256, got "${value}"`);
  return n;
}

const options = {
  server: { type: "string" },
  name: { type: "string" },
  codebase: { type: "string", multiple: true },
  token: { type: "string" },
  concurrency: { type: "string" },
  "drain-seconds": { type: "string" },
  "opencode-config": { type: "string" },
  "worktree-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

async function main(argv: string[]) {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>["values"];
  try {
    ({ values } = parseArgs({ args: argv, options }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${usage}`);
  }
  if (values.help) return console.log(usage);
  if (!values.server) fail(`--server is required\n\n${usage}`);
  let server: URL;
  try {
    server = new URL(values.server);
  } catch {
    fail(`--server must be a URL, got "${values.server}"`);
  }
  const name = values.name ?? os.hostname();
  if (!nameRe.test(name)) fail(`--name must be 1-100 letters, digits, '.', '_' or '-', got "${name}"`);
  let codebases: { name: string; path: string }[];
  try {
    codebases = (values.codebase ?? []).map(parseCodebase);
  } catch (err) {
    fail((err as Error).message);
  }
  const dup = codebases.find((c, i) => codebases.findIndex((d) => d.name === c.name) !== i);
  if (dup) fail(`--codebase name "${dup.name}" is given twice`);

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
    if (values["opencode-config"] !== undefined) config.opencode.providerConfig = parseProviderConfig(values["opencode-config"]);
  } catch (err) {
    fail((err as Error).message);
  }
  const token = values.token ?? config.workerToken ?? config.apiKey;
  // Loaded only now: --help and a bad flag answer without loading the worker.
  const [{ createLogger, knownSecrets, providerConfigKeys }, { CodetetherWorker }] = await Promise.all([
    import("../observability/log.js"),
    import("../worker/worker.js"),
  ]);
  const secrets = knownSecrets(process.env, [token, ...providerConfigKeys(config.opencode.providerConfig)]);
  const log = createLogger({ name: "codetether-worker", level: config.logLevel, secrets });
  const worker = new CodetetherWorker({
    log: (message) => log.info({ worker: name }, message),
    server: server.toString(),
    name,
    codebases,
    token,
    concurrency: positiveInt("--concurrency", values.concurrency, 1),
    drainMs: positiveInt("--drain-seconds", values["drain-seconds"], 30) * 1000,
    opencode: config.opencode,
    worktreeDir: path.resolve(values["worktree-dir"] ?? config.worktrees.dir ?? defaultWorktreeDir(process.env)),
    worktreePool: config.worktrees.poolSize,
  });
  let stopping: Promise<void> | null = null;
  const stop = (signal: string) => {
    log.info({ worker: name }, `${signal} received, ${stopping !== null ? "handing back running tasks now" : "finishing running tasks"}`);
    const s = worker.stop();
    stopping ??= s.then(() => {
      log.info({ worker: name }, "stopped");
      process.exit(0);
    });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  log.info({ worker: name, server: server.origin }, `codetether-worker ${name} starting against ${server.origin}`);
  await worker.run();
}

main(process.argv.slice(2)).catch((err) => {
  console.error("codetether-worker: failed:", err);
  process.exit(1);
});
