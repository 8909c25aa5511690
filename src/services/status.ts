/** `GET /v1/opencode/status`: is the OpenCode CLI here, which one, and how much is registered. */
import { z } from "@hono/zod-openapi";
import { findOpencodeBinary, opencodeVersion } from "../opencode/binary.js";
import { countCodebases } from "./codebases.js";
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
  const [version, registered] = await Promise.all([
    binary ? cachedVersion(binary) : Promise.resolve(null),
    countCodebases({ ctx }),
  ]);
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
