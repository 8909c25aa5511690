/**
 * The floor for the fan-out benchmark: a bare in-memory Node server that answers
 * the calls the benchmark makes (register, claim, upload events, follow events)
 * and writes each upload to every subscriber at once. No database, no validation:
 * what is left is what the clients and the sockets cost on this machine.
 * With FLOOR_DATABASE_URL it is the durable floor instead: each upload is stored in
 * Postgres by one autocommit statement (its seqs from a bigserial) before it is
 * answered or broadcast, the least a server that stores before it sends must do.
 * Prints `listening on http://127.0.0.1:<port>` like `codetether serve`.
 */
import http from "node:http";
import postgres from "postgres";

const db = process.env.FLOOR_DATABASE_URL ? postgres(process.env.FLOOR_DATABASE_URL, { max: 4, onnotice: () => {} }) : null;
if (db) await db`create table if not exists floor_events (seq bigserial primary key, type text not null, data jsonb not null)`;

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
      const events = body.events ?? [];
      const broadcast = (seqs) => {
        let text = "";
        events.forEach((e, i) => {
          const id = seqs ? Number(seqs[i]) : ++seq;
          text += `event: ${e.type}\nid: ${id}\ndata: ${JSON.stringify({ ...e.data, id, type: e.type })}\n\n`;
        });
        for (const sub of subscribers) sub.write(text);
        json(res, 200, { acked_through: events.at(-1)?.seq ?? 0, stored: events.length });
      };
      if (!db) return broadcast(null);
      // One statement: stored (and committed) before anyone is told.
      db`insert into floor_events (type, data) select e->>'type', e->'data' from jsonb_array_elements(${db.json(events)}) with ordinality as x(e, n) order by n returning seq`
        .then((rows) => broadcast(rows.map((r) => r.seq)))
        .catch((err) => json(res, 500, { detail: String(err) }));
      return;
    }
    json(res, 404, { detail: "not found" });
  });
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
