/**
 * Lists that page and search, on both databases: keyset cursors that hold while
 * rows are inserted, `q` search, the ~1 MiB page bound, and bounded tRPC batches.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sql } from "drizzle-orm";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";
import { allPages } from "../support/paging.js";

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
type Json = Record<string, any>;

for (const driver of testDrivers()) {
  describe(`paged and searchable lists (${driver.name})`, () => {
    let h: Harness;
    let codebaseId: string;
    const exec = (text: ReturnType<typeof sql>) => h.ctx.database.db.execute(text);

    before(async () => {
      h = await createHarness(driver, { localConcurrency: 0 });
      codebaseId = (await (await h.request("POST", "/v1/opencode/codebases", { name: "paged", path: h.tmp })).json()).id;
      // 1,000 sessions, each active at its own moment (one a minute, the newest first).
      await exec(sql`insert into sessions (id, codebase_id, title, status, updated_at)
        select 'ses_' || lpad(i::text, 4, '0'), ${codebaseId}, 'Session number ' || i || case when i % 100 = 0 then ' refactor logger' else '' end,
          'completed', now() - make_interval(mins => i)
        from generate_series(1, 1000) as i`);
    });
    after(() => h.close());

    /** GET a REST list page: its items and the next cursor from the headers. */
    const restPage = async (route: string) => {
      const res = await h.request("GET", route);
      assert.equal(res.status, 200, route);
      const cursor = res.headers.get("x-next-cursor");
      if (cursor) assert.match(res.headers.get("link")!, new RegExp(`cursor=${cursor}.*rel="next"`));
      else assert.equal(res.headers.get("link"), null);
      return { items: (await res.json()) as Json[], next_cursor: cursor };
    };

    test("paging through 1,000 sessions while new ones are inserted returns each once", async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      let inserted = 0;
      do {
        const page = await restPage(`/v1/opencode/codebases/${codebaseId}/sessions?limit=97${cursor ? `&cursor=${cursor}` : ""}`);
        seen.push(...page.items.map((s) => s.id));
        cursor = page.next_cursor;
        pages++;
        // Meanwhile new sessions start: they are the newest, ahead of every cursor.
        await exec(sql`insert into sessions (id, codebase_id, title, status) values (${`ses_new_${inserted++}`}, ${codebaseId}, 'fresh', 'running')`);
      } while (cursor);
      const original = seen.filter((id) => !id.startsWith("ses_new_"));
      assert.equal(original.length, 1000);
      assert.equal(new Set(seen).size, seen.length, "nothing twice");
      assert.equal(pages, Math.ceil(1000 / 97));
      assert.deepEqual(original.slice(0, 3), ["ses_0001", "ses_0002", "ses_0003"], "most recently active first");
      // The plain list (as the product page shows it) is the first page: 100, no envelope.
      assert.equal((await restPage(`/v1/opencode/codebases/${codebaseId}/sessions`)).items.length, 100);
    });

    test("q finds sessions by the words of their title, prefixes included", async () => {
      const found = await allPages((cursor) => h.trpc.sessions.page({ codebaseId, q: "refact LOGGER", limit: 4, cursor }));
      assert.deepEqual(found.map((s) => s.id).sort(), [
        "ses_0100",
        "ses_0200",
        "ses_0300",
        "ses_0400",
        "ses_0500",
        "ses_0600",
        "ses_0700",
        "ses_0800",
        "ses_0900",
        "ses_1000",
      ]);
      assert.deepEqual((await h.trpc.sessions.page({ codebaseId, q: "nothing-like-this" })).items, []);
      assert.equal((await h.trpc.sessions.page({ codebaseId, q: "!!!", limit: 5 })).items.length, 5, "a q without words does not filter");
    });

    test("tasks page in the order runners take them, with filters and q", async () => {
      for (let i = 0; i < 30; i++) {
        const res = await h.request("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, {
          title: `Task ${i}`,
          prompt: i % 10 === 0 ? "Migrate the billing service" : "Tidy up",
          priority: i % 3,
        });
        assert.equal(res.status, 201);
      }
      const all = await allPages((cursor) => h.trpc.tasks.page({ codebase_id: codebaseId, limit: 7, cursor }));
      assert.equal(all.length, 30);
      const order = (await h.trpc.tasks.list({ codebase_id: codebaseId, limit: 30 })).map((t) => t.id);
      assert.deepEqual(
        all.map((t) => t.id),
        order,
        "pages join up into the one-page order",
      );
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.priority >= all[i]!.priority);
      const billing = await restPage(`/v1/opencode/tasks?q=billing&codebase_id=${codebaseId}`);
      assert.deepEqual(billing.items.map((t) => t.title).sort(), ["Task 0", "Task 10", "Task 20"]);
      assert.ok(
        billing.items.every((t) => t.usage && t.usage.steps === 0),
        "tasks carry their totals",
      );
    });

    test("a page stops at about 1 MiB, whatever the limit", async () => {
      const big = "x".repeat(90_000);
      for (let i = 0; i < 24; i++) await h.request("POST", `/v1/opencode/codebases/${codebaseId}/tasks`, { title: `Big ${i}`, prompt: big, priority: 500 });
      const first = await restPage("/v1/opencode/tasks?limit=500&q=big");
      const bytes = JSON.stringify(first.items).length;
      assert.ok(first.items.length >= 10 && first.items.length < 24, `${first.items.length} items`);
      assert.ok(bytes <= 1024 * 1024 + 100_000, `${bytes} bytes`);
      assert.ok(first.next_cursor, "and says where to go on");
      const rest = await allPages((cursor) => h.trpc.tasks.page({ q: "big", limit: 500, cursor: cursor ?? first.next_cursor! }));
      assert.equal(first.items.length + rest.length, 24);
    });

    test("codebases page oldest first; a cursor from elsewhere is a 400", async () => {
      await exec(sql`insert into codebases (id, name, path, created_at)
        select 'cb_' || i, 'many-' || i, '/srv/many/' || i, now() + make_interval(secs => i) from generate_series(1, 250) as i`);
      const all = await allPages((cursor) => h.trpc.codebases.page({ limit: 100, cursor }));
      assert.equal(all.length, 251);
      assert.equal(all[0]!.id, codebaseId);
      assert.equal(all.at(-1)!.name, "many-250");
      const impossible = Buffer.from('["2024-13-45T99:00:00.000000Z","x"]').toString("base64url");
      const yearZero = Buffer.from('["0000-01-01T00:00:00.000000Z","x"]').toString("base64url");
      for (const bad of ["nonsense", Buffer.from('["x"]').toString("base64url"), "a".repeat(1001), impossible, yearZero]) {
        const res = await h.request("GET", `/v1/opencode/codebases?cursor=${bad}`);
        assert.ok(res.status === 400 || res.status === 422, `${bad.slice(0, 20)}: ${res.status}`);
        assert.match((await res.json()).detail, /cursor/);
      }
      assert.equal((await h.request("GET", "/v1/opencode/codebases?limit=501")).status, 422);
    });

    test("a session's answer holds its newest 1,000 messages at most; its messages page through all", async () => {
      await exec(sql`insert into messages (id, session_id, role, text, created_at)
        select 'msg_' || lpad(i::text, 5, '0'), 'ses_0001', case when i % 2 = 0 then 'assistant' else 'user' end, 'message ' || i,
          now() - interval '1 day' + make_interval(secs => i)
        from generate_series(1, 1205) as i`);
      const detail = await h.trpc.sessions.get({ codebaseId, sessionId: "ses_0001" });
      assert.equal(detail.messages.length, 1000);
      assert.equal(detail.messages_truncated, true);
      assert.equal(detail.messages[0]!.id, "msg_00206", "the newest 1,000, oldest first");
      assert.equal(detail.messages.at(-1)!.id, "msg_01205");
      const all = await allPages((cursor) => h.trpc.sessions.messages({ codebaseId, sessionId: "ses_0001", limit: 500, cursor }));
      assert.deepEqual(
        all.map((m) => m.id),
        Array.from({ length: 1205 }, (_, i) => `msg_${String(i + 1).padStart(5, "0")}`),
      );
      const rest = await restPage(`/v1/opencode/codebases/${codebaseId}/sessions/ses_0001/messages?limit=2`);
      assert.deepEqual(
        rest.items.map((m) => m.text),
        ["message 1", "message 2"],
      );
      // Big messages: the answer stops at about 4 MiB.
      await exec(sql`insert into messages (id, session_id, role, text, created_at)
        select 'big_' || i, 'ses_0002', 'assistant', repeat('x', 600000), now() + make_interval(secs => i) from generate_series(1, 10) as i`);
      const big = await h.request("GET", `/v1/opencode/codebases/${codebaseId}/sessions/ses_0002`);
      const body = await big.text();
      assert.ok(body.length < 5 * 1024 * 1024, `${body.length} bytes`);
      assert.equal(JSON.parse(body).messages_truncated, true);
      assert.equal((await h.trpc.sessions.get({ codebaseId, sessionId: "ses_0003" })).messages_truncated, false);
    });

    test("a tRPC batch of 20 list calls over hundreds of codebases stays small", async () => {
      const calls = Array.from({ length: 20 }, () => "codebases.list").join(",");
      const res = await h.app.request(`/trpc/${calls}?batch=1&input=${encodeURIComponent("{}")}`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Json[];
      assert.equal(body.length, 20);
      assert.ok(
        body.every((r) => r.result.data.json.length === 100),
        "each answers one page",
      );
      assert.ok(JSON.stringify(body).length < 20 * 1024 * 1024);
    });
  });
}
