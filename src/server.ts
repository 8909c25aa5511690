/**
 * Starting and stopping the whole server: database, HTTP listener, and a clean
 * shutdown that lets in-flight requests finish before the database closes.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import type { Config } from "./config.js";
import { createDb, dbOptionsFromEnv, type Database } from "./db/client.js";
import { createApp } from "./http/app.js";
import type { ServiceContext } from "./services/context.js";
import { createServices } from "./services/create.js";

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
}

export async function startServer({ config, database, opencodeEnv }: StartOptions): Promise<RunningServer> {
  const db =
    database ??
    (await createDb(dbOptionsFromEnv(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : {}, config.dataDir)));
  const services = await createServices({ database: db, config, opencodeEnv });
  const { ctx } = services;
  const app = createApp(ctx);

  let server: ServerType;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info: AddressInfo) =>
      resolve(info.port),
    );
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
