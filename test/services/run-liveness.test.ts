/**
 * Runs lost with their server process: a session still marked running whose owner
 * stopped stamping it is failed, with `error` and `complete` in its stream, once.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eq } from "drizzle-orm";
import { sessions } from "../../src/db/schema.js";
import { failLostRuns, stampRuns } from "../../src/services/sessions/run-liveness.js";
import { testDrivers } from "../support/db.js";
import { createHarness, type Harness } from "../support/harness.js";

for (const driver of testDrivers()) {
  describe(`lost runs (${driver.name})`, () => {
    let h: Harness;
    let codebaseId: string;
    before(async () => {
      h = await createHarness(driver, { localConcurrency: 0 });
      codebaseId = (await (await h.request("POST", "/v1/opencode/codebases", { name: "app", path: h.tmp })).json()).id;
    });
    after(() => h.close());

    const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);
    const insert = (id: string, runOwner: string, runHeartbeatAt: Date) =>
      h.ctx.database.db.insert(sessions).values({ id, codebaseId, title: id, status: "running", runOwner, runHeartbeatAt });
    const status = async (id: string) => (await h.ctx.database.db.select().from(sessions).where(eq(sessions.id, id)))[0]!;

    test("a run whose owner stopped stamping it fails with error and complete; live runs are left alone", async () => {
      await insert("ses_lost", "dead-process", ago(120));
      await insert("ses_alive_elsewhere", "other-process", ago(1));
      await insert("ses_mine", h.ctx.instanceId, ago(120));
      await stampRuns(h.ctx); // this process is alive: its own stamp is fresh again

      assert.equal(await failLostRuns(h.ctx, { olderThanSeconds: 30 }), 1);
      const lost = await status("ses_lost");
      assert.equal(lost.status, "failed");
      assert.match(lost.error!, /stopped before it finished/);
      assert.equal(lost.runOwner, null);
      assert.equal((await status("ses_alive_elsewhere")).status, "running");
      assert.equal((await status("ses_mine")).status, "running");

      const events = await h.ctx.events.read(codebaseId, 0);
      assert.deepEqual(
        events.map((e) => [e.type, e.data.session_id, e.type === "error" ? e.data.name : e.type === "complete" ? e.data.status : null]),
        [
          ["error", "ses_lost", "RunLost"],
          ["complete", "ses_lost", "failed"],
        ],
      );
      assert.equal(await failLostRuns(h.ctx, { olderThanSeconds: 30 }), 0, "a second sweep changes nothing");
      assert.equal((await h.ctx.events.read(codebaseId, 0)).length, 2);
    });

    test("when no other process can share the database, every run another process owned is lost at once", async () => {
      assert.equal(await failLostRuns(h.ctx, { olderThanSeconds: 0, othersNow: true }), 1);
      assert.equal((await status("ses_alive_elsewhere")).status, "failed");
      assert.equal((await status("ses_mine")).status, "running");
    });
  });
}
