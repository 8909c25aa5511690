/** `GET /v1/opencode/status`: is the OpenCode CLI here, which one, and how much is registered. */
import { z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { findOpencodeBinary, opencodeVersion } from "../opencode/binary.js";
import { countCodebases } from "./codebases/codebases.js";
import type { ServiceContext } from "./context.js";

export const Status = z
  .object({
    available: z.boolean(),
    opencode_binary: z.string().nullable(),
    opencode_version: z.string().nullable(),
    registered_codebases: z.number().int(),
    database: z.enum(["postgres", "pglite"]).openapi({ description: "Where the server keeps its data: a Postgres server, or the embedded PGlite" }),
    message: z.string().optional(),
    opencode_server: z
      .object({
        mode: z.enum(["external", "managed", "none"]),
        state: z.enum(["idle", "connecting", "starting", "ready", "restarting", "failed", "stopped"]),
        url: z.string().nullable(),
        pid: z.number().int().nullable(),
        version: z.string().nullable(),
        restarts: z.number().int(),
        last_error: z.string().nullable(),
      })
      .openapi({ description: "The `opencode serve` the bridge uses: external, started by us (managed), or none yet" }),
  })
  .openapi("Status");
export type Status = z.infer<typeof Status>;

const versions = new Map<string, Promise<string | null>>();

/** `opencode --version` costs a process start; ask once per binary. */
function cachedVersion(binary: string): Promise<string | null> {
  let v = versions.get(binary);
  if (!v) {
    v = opencodeVersion(binary);
    versions.set(binary, v);
    void v.then((r) => r === null && versions.delete(binary)); // retry a failed probe next time
  }
  return v;
}

export async function getStatus({ ctx }: { ctx: ServiceContext }): Promise<Status> {
  const binary = findOpencodeBinary(ctx.config.opencode.binary);
  const [version, registered] = await Promise.all([binary ? cachedVersion(binary) : Promise.resolve(null), countCodebases({ ctx })]);
  const server = ctx.bridge.connection.status();
  const available = (binary !== null && version !== null) || (server.mode === "external" && server.state === "ready");
  return {
    available,
    opencode_binary: binary,
    opencode_version: version,
    registered_codebases: registered,
    database: ctx.database.driver,
    opencode_server: server,
    ...(available ? {} : { message: "OpenCode bridge not available" }),
  };
}

export const Readiness = z
  .object({
    status: z.enum(["ready", "unavailable"]),
    database: z.string().openapi({ description: "`ok`, or why it cannot be used" }),
    opencode: z.string().openapi({ description: "`ok`, or the bridge's state (starting, restarting, failed, …) and its last error" }),
  })
  .openapi("Readiness");
export type Readiness = z.infer<typeof Readiness>;

/** Whether this process can serve work now: its database answers and its OpenCode is up. Bounded to about a second. */
export async function getReadiness({ ctx }: { ctx: ServiceContext }): Promise<Readiness> {
  const database = ctx.database.circuit?.isOpen()
    ? "unreachable (the circuit is open; probing)"
    : await Promise.race([
        ctx.database.db.execute(sql`select 1`).then(
          () => "ok",
          (err: Error) => `unreachable: ${err.message.slice(0, 200)}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve("no answer within 1 s"), 1000).unref()),
      ]);
  const oc = ctx.bridge.connection.status();
  const opencode = oc.state === "ready" ? "ok" : `${oc.state}${oc.last_error ? `: ${oc.last_error.slice(0, 200)}` : ""}`;
  return { status: database === "ok" && opencode === "ok" ? "ready" : "unavailable", database, opencode };
}
