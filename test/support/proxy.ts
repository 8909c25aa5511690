/**
 * A TCP proxy for fault tests: it can drop every open connection at once (a network
 * blip) and refuse new ones until told otherwise (the service behind it is down).
 */
import net from "node:net";
import { createPostgresDatabase } from "./db.js";

export interface DroppingProxy {
  url: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Destroys every open connection, both sides. */
  drop(): void;
  /** Drops every connection and resets new ones at once, until `up()`. */
  down(): void;
  up(): void;
  /**
   * Cuts the next connection whose client sends `text` (in one chunk) before it reaches the service, first
   * answering `reply` in the service's place (say, the error a terminated backend sends).
   */
  cutOn(text: string, reply?: Buffer): Promise<void>;
  close(): Promise<void>;
}

export async function startDroppingProxy(target: { host: string; port: number }): Promise<DroppingProxy> {
  const open = new Set<net.Socket>();
  let connections = 0;
  let refusing = false;
  let cut: { text: string; reply?: Buffer; done: () => void } | undefined;
  const server = net.createServer((client) => {
    client.on("error", () => {}); // a dropped peer is the point here
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    connections++;
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (chunk: Buffer) => {
      if (cut && chunk.includes(cut.text)) {
        const { done, reply } = cut;
        cut = undefined;
        upstream.unpipe(client);
        if (reply) client.end(reply);
        else client.destroy();
        upstream.destroy();
        done();
        return;
      }
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const drop = () => {
    for (const s of open) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return connections;
    },
    drop,
    down() {
      refusing = true;
      drop();
    },
    up() {
      refusing = false;
    },
    cutOn(text, reply) {
      return new Promise((done) => {
        cut = { text, reply, done };
      });
    },
    close() {
      drop();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A new database on the Postgres of `baseUrl`, reached through a proxy of its own: the URL through the proxy, the proxy, and `drop`. */
export async function databaseBehindProxy(baseUrl: string): Promise<{ url: string; proxy: DroppingProxy; drop(): Promise<void> }> {
  const created = await createPostgresDatabase(baseUrl);
  const direct = new URL(created.url);
  const proxy = await startDroppingProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const viaProxy = new URL(created.url);
  viaProxy.port = String(proxy.port);
  return { url: viaProxy.toString(), proxy, drop: created.drop };
}
