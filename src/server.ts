/**
 * Starting and stopping the whole server: database, HTTP listener, and a clean
 * shutdown that lets in-flight requests finish before the database closes.
 */

import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Config } from "./config.js";
import { createDb, type Database, dbOptionsFromEnv } from "./db/client.js";
import { createApp } from "./http/app.js";
import { createLogger, knownSecrets, type Logger, providerConfigKeys } from "./observability/log.js";
import { createServices } from "./runtime.js";
import type { ServiceContext } from "./services/context.js";

export interface RunningServer {
  url: string;
  port: number;
  ctx: ServiceContext;
  /** Stops accepting, waits for in-flight requests (up to `graceMs`), then closes the database. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  config: Config;
  /** Use this database instead of opening one from the config (tests). It is closed with the server. */
  database?: Database;
  /** Environment of a managed `opencode serve` (tests isolate it). */
  opencodeEnv?: NodeJS.ProcessEnv;
  /** The process's logger (default: one at the configured level, scrubbing the secrets this process knows). */
  log?: Logger;
}

/** The logger `codetether serve` uses: its level from the config, every secret it can know scrubbed. */
export function serverLogger(config: Config, env: NodeJS.ProcessEnv = process.env): Logger {
  return createLogger({
    name: "codetether",
    level: config.logLevel,
    secrets: knownSecrets(env, [config.apiKey, config.workerToken, config.metricsToken, ...providerConfigKeys(config.opencode.providerConfig)]),
  });
}

export async function startServer({ config, database, opencodeEnv, log = serverLogger(config) }: StartOptions): Promise<RunningServer> {
  const db = database ?? (await createDb(dbOptionsFromEnv(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : {}, config.dataDir)));
  if (db.created) {
    const how = db.created === "seed" ? "from the build's seed" : "by initdb (this build has no seed for the installed PGlite)";
    log.info({ database: db.describe, created: db.created }, `created a new embedded database ${how}`);
  }
  const services = await createServices({ database: db, config, opencodeEnv, log });
  const { ctx } = services;
  const app = createApp(ctx);

  let server: ServerType;
  const port = await new Promise<number>((resolve, reject) => {
    const limits = config.http;
    server = serve(
      {
        fetch: answeredByHandler(app.fetch),
        port: config.port,
        hostname: config.host,
        serverOptions: {
          // A request is received whole within these or answered 408 and closed: a silent or
          // byte-a-second client cannot hold a socket. They bound receiving only, so a long SSE
          // answer is not cut (a client that stops reading is, by the stream's own write timeout).
          headersTimeout: Math.min(limits.headersTimeoutSeconds, limits.requestTimeoutSeconds) * 1000,
          requestTimeout: limits.requestTimeoutSeconds * 1000,
          keepAliveTimeout: limits.keepAliveTimeoutSeconds * 1000,
          connectionsCheckingInterval: 1000,
        },
      },
      (info: AddressInfo) => resolve(info.port),
    );
    // Beyond this, new connections are closed at once instead of the process running out of file descriptors.
    (server as { maxConnections?: number }).maxConnections = limits.maxConnections;
    server.once("error", reject);
  });
  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    ctx,
    close: (graceMs = 10_000) =>
      (closing ??= (async () => {
        const stopped = services.stop(); // ends SSE streams so the listener can close
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            if ("closeAllConnections" in server) server.closeAllConnections();
          }, graceMs);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          if ("closeIdleConnections" in server) server.closeIdleConnections();
        });
        await stopped;
        await db.close();
      })()),
  };
}

/**
 * A handler that wrote its answer straight to the socket (the event stream, see
 * sse-writer.ts) has sent its head already; whatever Response the app then returns
 * is replaced by the adapter's "already sent" marker, so nothing is written twice.
 */
function answeredByHandler(fetch: (request: Request, env: { outgoing: { headersSent: boolean } }) => Response | Promise<Response>) {
  return async (request: Request, env: { outgoing: { headersSent: boolean } }) => {
    const response = await fetch(request, env);
    return env.outgoing.headersSent ? RESPONSE_ALREADY_SENT : response;
  };
}
