/**
 * An HTTP reverse proxy for fault tests, standing where nginx or a load balancer
 * would: it forwards requests to the server, except those a rule picks, which get
 * what such a proxy answers when the upstream hiccups (an HTML 502 page).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Gateway {
  url: string;
  /** Requests answered by the gateway itself, by path. */
  readonly injected: string[];
  close(): Promise<void>;
}

const badGateway =
  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/** `fail(method, path)` true: answer 502 with an HTML page instead of forwarding. */
export async function startGateway(target: string, fail: (method: string, path: string) => boolean): Promise<Gateway> {
  const injected: string[] = [];
  const server = http.createServer(async (req, res) => {
    const path = req.url ?? "/";
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (fail(req.method ?? "GET", path)) {
      injected.push(path);
      res.writeHead(502, { "content-type": "text/html" });
      res.end(badGateway);
      return;
    }
    try {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !["host", "connection", "content-length"].includes(k))) as Record<
        string,
        string
      >;
      const upstream = await fetch(new URL(path, target), {
        method: req.method,
        headers,
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(
        upstream.status,
        Object.fromEntries([...upstream.headers].filter(([k]) => !["content-encoding", "content-length", "transfer-encoding"].includes(k))),
      );
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch {
      res.writeHead(502, { "content-type": "text/html" });
      res.end(badGateway);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    injected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
