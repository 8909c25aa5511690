/**
 * The floor for the fan-out benchmark: a bare in-memory Node server that answers
 * the calls the benchmark makes (register, claim, upload events, follow events)
 * and writes each upload to every subscriber at once. No database, no validation:
 * what is left is what the clients and the sockets cost on this machine.
 * Prints `listening on http://127.0.0.1:<port>` like `codetether serve`.
 */
import http from "node:http";

const subscribers = new Set();
let seq = 0;

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = req.url ?? "/";
  if (req.method === "GET" && url.includes("/events")) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write("retry: 2000\n\n");
    subscribers.add(res);
    req.on("close", () => subscribers.delete(res));
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
    if (url === "/v1/opencode/codebases") return json(res, 201, { id: "floor" });
    if (url === "/v1/opencode/worker/register") return json(res, 200, { name: body.name });
    if (url.endsWith("/tasks")) return json(res, 201, { id: "task-floor" });
    if (url === "/v1/opencode/worker/claim") return json(res, 200, { lease_token: "lease", task: { id: "task-floor" } });
    if (/^\/v1\/opencode\/worker\/tasks\/[^/]+\/events$/.test(url)) {
      let text = "";
      for (const e of body.events ?? []) {
        seq++;
        text += `event: ${e.type}\nid: ${seq}\ndata: ${JSON.stringify({ ...e.data, id: seq, type: e.type })}\n\n`;
      }
      for (const sub of subscribers) sub.write(text);
      return json(res, 200, { acked_through: body.events?.at(-1)?.seq ?? 0, stored: body.events?.length ?? 0 });
    }
    json(res, 404, { detail: "not found" });
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
