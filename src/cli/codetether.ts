/**
 * `codetether serve`: the server's command line. It parses its arguments before it
 * loads the server, so `--help` and `--version` answer without loading it.
 */
import { parseArgs } from "node:util";
import { packageVersion } from "../package-root.js";

const pkg = { version: packageVersion };

const usage = `Usage: codetether serve [--port <port>] [--host <host>]
       codetether keys create|list|revoke   (see codetether keys --help)

Runs the CodeTether server: the REST API under /v1/opencode, tRPC under /trpc.

Options:
  --port <port>   Port to listen on (default 8000, or CODETETHER_PORT)
  --host <host>   Address to bind (default 127.0.0.1, or CODETETHER_HOST)
  -h, --help      Show this help
  -v, --version   Show the version

Environment:
  DATABASE_URL          Postgres URL; without it an embedded PGlite database is used
  CODETETHER_DATA_DIR   Where the embedded database lives (default ./data)
  CODETETHER_API_KEY    When set, /v1 and /trpc require Authorization: Bearer <key>
  OPENCODE_BIN          Path of the opencode binary (default: found on PATH)
  See the README for every variable.`;

function fail(message: string): never {
  console.error(`codetether: ${message}`);
  process.exit(2);
}

async function main(argv: string[]) {
  // `keys` has options of its own.
  if (argv[0] === "keys") {
    const { runKeysCommand } = await import("./keys.js");
    return runKeysCommand(argv.slice(1), fail);
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
  const options = {
    port: { type: "string" },
    host: { type: "string" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "v" },
  } as const;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.version) return console.log(pkg.version);
  if (values.help || positionals.length === 0) return console.log(usage);
  if (positionals[0] !== "serve" || positionals.length > 1) fail(`unknown command "${positionals.join(" ")}"\n\n${usage}`);

  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a number from 0 to 65535, got "${values.port}"`);
  }
  const { loadConfig } = await import("../config.js");
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, { port, host: values.host });
  } catch (err) {
    fail((err as Error).message);
  }
  const [{ serverLogger, startServer }, { DataDirLockedError }] = await Promise.all([import("../server.js"), import("../db/lock.js")]);
  const log = serverLogger(config);
  const loopback = ["127.0.0.1", "localhost", "::1"].includes(config.host) || config.host.startsWith("127.");
  if (!loopback && !config.apiKey) {
    log.warn(`listening on ${config.host} without CODETETHER_API_KEY: anyone who can reach it can run agents`);
  }

  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ config, log });
  } catch (err) {
    if (err instanceof DataDirLockedError) fail(err.message);
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") fail(`port ${config.port} on ${config.host} is already in use`);
    throw err;
  }
  log.info(
    { version: pkg.version, url: server.url, database: server.ctx.database.describe },
    `codetether ${pkg.version} listening on ${server.url} (database: ${server.ctx.database.describe})`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal} received, finishing in-flight requests`);
    await server.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main(process.argv.slice(2)).catch((err) => {
  console.error("codetether: failed to start:", err);
  process.exit(1);
});
