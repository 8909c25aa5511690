/**
 * The dashboard in a real browser: Debian's Chromium (playwright-core, never a
 * downloaded browser) against `codetether serve`'s own app, the real OpenCode and
 * the scripted model. Controls are found by role and name, as a screen reader
 * would. Screenshots of each page land in test-artifacts/dashboard/ (git-ignored).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { type AgentServer, startAgentServer } from "../support/agent-server.js";
import { chromiumMissing, launchChromium } from "../support/chromium.js";
import { repoRoot } from "../support/cli.js";
import { pgliteDriver } from "../support/db.js";
import { testConfig } from "../support/harness.js";
import { needs } from "../support/skip.js";
import { startReceiver } from "../support/webhooks.js";

const exec = promisify(execFile);
const shots = path.join(repoRoot, "test-artifacts", "dashboard");
const timeout = 120_000;

/** A page that fails the test on any script error, at a given width. */
async function open(browser: Browser, url: string, width = 1280): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(url);
  return { page, errors };
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

describe(
  "the web dashboard in Chromium",
  { timeout: 900_000 },
  needs(chromiumMissing, () => {
    let s: AgentServer;
    let browser: Browser;
    before(async () => {
      await exec("npm", ["run", "build:web"], { cwd: repoRoot });
      await mkdir(shots, { recursive: true });
      // The webhook receiver of the Webhooks test lives on loopback, which webhooks may reach only when allowed.
      s = await startAgentServer(pgliteDriver, { config: { webhooks: { ...testConfig().webhooks, allowPrivate: ["127.0.0.1"] } } });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await s?.close();
    });

    test("deep links load the app, the API paths keep their meaning", { timeout }, async () => {
      const deep = await fetch(`${s.server.url}/tasks/some-task-id`);
      assert.equal(deep.status, 200);
      assert.match(await deep.text(), /<div id="root">/);
      assert.equal((await fetch(`${s.server.url}/health`)).status, 200);
      assert.equal((await fetch(`${s.server.url}/v1/opencode/nope`)).status, 404);
      assert.match(await (await fetch(`${s.server.url}/openapi.json`)).text(), /"openapi"/);
      assert.equal((await fetch(`${s.server.url}/assets/missing.js`)).status, 404);
    });

    test("codebases: the empty state says what to do; register one through the form", { timeout }, async () => {
      const { page, errors } = await open(browser, s.server.url);
      await page.getByRole("heading", { name: "No codebases yet: register one" }).waitFor();
      await shot(page, "codebases-empty");
      const dir = await s.sandbox.createCodebase("webapp");
      await page.getByRole("button", { name: "Register a codebase" }).first().click();
      const form = page.getByRole("form", { name: "Register a codebase" });
      await form.getByLabel("Name").fill("webapp");
      await form.getByLabel("Path").fill(dir);
      await form.getByLabel("Description").fill("The dashboard's test codebase");
      await form.getByRole("button", { name: "Register" }).click();
      const card = page.getByRole("listitem", { name: "webapp" });
      await card.waitFor();
      await card.getByText("idle").waitFor();
      await shot(page, "codebases");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("run: streamed text, the tool row and the file change, then continue the session", { timeout }, async () => {
      const greet = 'export function greet(name: string): string {\n  // Say hello, politely.\n  return "Hello, " + name + "!";\n}\n';
      s.llm.setScript([
        {
          tools: [
            { tool: "write", args: { filePath: "hello.txt", content: "hello from the dashboard\n" } },
            { tool: "write", args: { filePath: "greet.ts", content: greet } },
          ],
        },
        { text: "I wrote **hello.txt** for you.", chunks: 5, chunkDelayMs: 50 },
      ]);
      const { page, errors } = await open(browser, `${s.server.url}/run`);
      await page.getByLabel("Prompt").fill("Create hello.txt");
      await page.getByRole("button", { name: "Run", exact: true }).click();
      await page.waitForURL(/\/run\/[^/]+\/ses_/);
      await page.getByText("Run completed").waitFor({ timeout: 60_000 });
      const log = page.getByRole("list", { name: "Run output" });
      await log.getByRole("listitem", { name: "Tool write: completed" }).first().waitFor();
      await log.getByText("hello.txt", { exact: true }).first().waitFor();
      assert.equal(await log.locator("strong", { hasText: "hello.txt" }).count(), 1, "markdown rendered");
      await shot(page, "run-completed");

      // The run worked in a worktree of its own: its Changes tab shows the diff, and applying brings it into the codebase.
      const changes = page.getByRole("tab", { name: /Changes/ });
      await changes.getByText("+5").waitFor();
      await changes.click();
      await page.getByRole("list", { name: "Changed files" }).getByText("hello.txt").waitFor();
      await page.getByRole("region", { name: "Diff of hello.txt" }).getByText("hello from the dashboard").waitFor();
      // Code is coloured by its language.
      await page.getByRole("region", { name: "Diff of greet.ts" }).locator(".token.keyword").first().waitFor();
      await page.getByText(/Merges codetether\/\S+ into \S+ with a merge commit\./).waitFor();
      await shot(page, "run-changes");
      await page.getByLabel("Side by side").check();
      await page.getByRole("region", { name: "Diff of hello.txt" }).locator("table.diff-split").waitFor();
      await shot(page, "run-changes-split");
      const codebaseDir = path.join(s.sandbox.root, "code", "webapp");
      assert.equal(existsSync(path.join(codebaseDir, "hello.txt")), false, "not in the codebase until applied");
      await page.getByRole("button", { name: /^Apply to / }).click();
      await page.getByText(/Applied \(merge\)/).waitFor();
      assert.equal(existsSync(path.join(codebaseDir, "hello.txt")), true);
      await shot(page, "run-applied");
      await page.getByRole("tab", { name: "Output" }).click();

      s.llm.setScript([{ text: "And a second answer in the same session." }]);
      await page.getByLabel("Follow-up prompt").fill("Anything else?");
      await page.getByRole("button", { name: "Continue" }).click();
      await page.getByText("And a second answer in the same session.").waitFor({ timeout: 60_000 });
      await page.getByText("Run completed").waitFor();

      // The session in the codebase's list: what it cost, found by a word of its title.
      const codebaseId = /\/run\/([^/]+)\//.exec(page.url())![1]!;
      await page.goto(`${s.server.url}/codebases/${codebaseId}/sessions`);
      const row = page.getByRole("row", { name: /Create hello\.txt/ });
      await row.getByText(/ in · .* out/).waitFor();
      await page.getByPlaceholder("Search titles").fill("nomatch");
      await page.getByRole("heading", { name: /No session title has/ }).waitFor();
      await page.getByPlaceholder("Search titles").fill("hello");
      await row.waitFor();
      await shot(page, "sessions");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("a permission request shows its buttons; approving lets the run finish", { timeout }, async () => {
      const askDir = await s.sandbox.createCodebase("askweb", { "opencode.json": JSON.stringify({ permission: { edit: "ask" } }) });
      const cb = await s.api("POST", "/v1/opencode/codebases", { name: "askweb", path: askDir });
      s.llm.setScript([{ tool: "write", args: { filePath: "asked.txt", content: "ok\n" } }, { text: "Written after approval." }]);
      const { page, errors } = await open(browser, `${s.server.url}/run/${cb.body.id}`);
      await page.getByLabel("Prompt").fill("Write asked.txt");
      await page.getByRole("button", { name: "Run", exact: true }).click();
      const request = page.getByRole("listitem", { name: "Permission request: edit" });
      await request.getByRole("button", { name: "Approve once" }).waitFor({ timeout: 60_000 });
      await shot(page, "run-permission");
      await request.getByRole("button", { name: "Approve once" }).click();
      await page.getByText("Written after approval.").waitFor({ timeout: 60_000 });
      await request.getByText("approved").waitFor();
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("abort stops a slow run", { timeout }, async () => {
      s.llm.setScript([{ hangMs: 60_000, text: "Thinking slowly" }]);
      const { page, errors } = await open(browser, `${s.server.url}/run`);
      await page.getByLabel("Prompt").fill("Take your time");
      await page.getByRole("button", { name: "Run", exact: true }).click();
      await page.getByText("Thinking slowly").waitFor({ timeout: 60_000 });
      // The codebases page says what is going on where, in another tab.
      const other = await open(browser, `${s.server.url}/codebases`);
      await other.page.getByRole("listitem", { name: "webapp" }).getByText("1 run in flight").waitFor();
      await shot(other.page, "codebases-running");
      await other.page.close();
      await page.getByRole("button", { name: "Abort" }).click();
      await page.getByText("Run aborted").waitFor({ timeout: 30_000 });
      await shot(page, "run-aborted");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("a follow-up sent while the run works is queued (the box's default), shown, editable, and runs as the next turn", { timeout }, async () => {
      s.llm.setScript([{ hangMs: 4000, text: "Working on the first turn" }, { text: "The queued turn ran." }]);
      const { page, errors } = await open(browser, `${s.server.url}/run`);
      await page.getByLabel("Prompt").fill("First turn");
      await page.getByRole("button", { name: "Run", exact: true }).click();
      await page.getByText("Working on the first turn").waitFor({ timeout: 60_000 });
      await page.getByLabel("Follow-up prompt").fill("Then this");
      await page.getByRole("button", { name: "Queue follow-up" }).click();
      const queue = page.getByRole("region", { name: "Queued follow-ups" });
      await queue.getByText("Then this").waitFor();
      await queue.getByRole("button", { name: "Edit" }).click();
      await queue.getByLabel("Edit the queued prompt").fill("Then this, edited");
      await queue.getByRole("button", { name: "Save" }).click();
      await queue.getByText("Then this, edited").waitFor();
      await shot(page, "run-queued");
      await page.getByText("The queued turn ran.").waitFor({ timeout: 60_000 });
      await page.getByText("The next turn began: a queued follow-up").waitFor();
      // Both turns ended, each on record; then nothing waits and the box runs the next prompt at once.
      await page.getByText("Run completed").nth(1).waitFor({ timeout: 30_000 });
      await queue.waitFor({ state: "detached" });
      await page.getByRole("button", { name: "Continue" }).waitFor();
      const seen = s.llm.requests.filter((r) => !r.title).map((r) => JSON.stringify(r.messages.filter((m) => m.role === "user").at(-1)?.content));
      assert.ok(
        seen.some((u) => u.includes("Then this, edited")),
        "the edited prompt ran",
      );
      await shot(page, "run-queued-done");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("sessions: every codebase's, newest activity first, filtered by status and codebase", { timeout }, async () => {
      const { page, errors } = await open(browser, `${s.server.url}/sessions`);
      assert.equal(await page.getByRole("navigation", { name: "Main" }).getByRole("link").first().textContent(), "Sessions", "first in the navigation");
      await page
        .getByRole("row", { name: /askweb/ })
        .first()
        .waitFor();
      await page
        .getByRole("row", { name: /webapp/ })
        .first()
        .waitFor();
      await shot(page, "all-sessions");
      // The list keeps the last answer on screen until the new one is in (no flicker): wait for the rows that go.
      await page.getByLabel("Status").selectOption("aborted");
      await page
        .getByRole("row", { name: /askweb/ })
        .first()
        .waitFor({ state: "detached" });
      await page.getByRole("row", { name: /Take your time/ }).waitFor();
      await page.getByLabel("Status").selectOption("");
      await page.getByLabel("Codebase").selectOption({ label: "askweb" });
      await page
        .getByRole("row", { name: /webapp/ })
        .first()
        .waitFor({ state: "detached" });
      await page.getByRole("row", { name: /Write asked\.txt/ }).waitFor();
      await page.getByPlaceholder("Search titles").fill("nomatch");
      await page.getByRole("heading", { name: "No session matches" }).waitFor();
      await page.getByRole("button", { name: "Clear the filters" }).click();
      await page
        .getByRole("row", { name: /webapp/ })
        .first()
        .waitFor();
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("webhooks: add an endpoint (its secret shown once), send a test, read the delivery log", { timeout }, async () => {
      const receiver = await startReceiver();
      try {
        const { page, errors } = await open(browser, `${s.server.url}/webhooks`);
        await page.getByRole("heading", { name: "No webhooks yet" }).waitFor();
        await page.getByLabel("Endpoint URL").fill(receiver.url);
        // Optional: only some codebases (none ticked, every one).
        await page.getByRole("group", { name: "About which codebases" }).getByLabel("webapp").waitFor();
        await page.getByRole("button", { name: "Add webhook" }).click();
        const secret = await page.locator("code.secret").textContent();
        assert.match(secret ?? "", /^whsec_/);
        receiver.secret = secret!;
        await shot(page, "webhooks-secret");
        await page.getByRole("button", { name: "I have copied it" }).click();
        await page.getByRole("button", { name: "Send a test" }).click();
        await page.getByRole("button", { name: "Deliveries" }).click();
        await page.getByRole("row", { name: /webhook\.test\s+succeeded\s+200/ }).waitFor({ timeout: 30_000 });
        // The endpoint's summary follows its deliveries: nothing is left pending.
        await page.getByText(/· 1 pending/).waitFor({ state: "detached" });
        assert.ok(
          receiver.received.some((r) => r.type === "webhook.test" && r.verified),
          "the receiver verified the test message",
        );
        await shot(page, "webhooks");
        assert.deepEqual(errors, []);
        await page.close();
      } finally {
        await receiver.close();
      }
    });

    test("a reload mid-run resumes the stream: the whole text once, nothing twice", { timeout }, async () => {
      const words = Array.from({ length: 40 }, (_, i) => `word${i}`);
      s.llm.setScript([{ text: words.join(" "), chunks: 40, chunkDelayMs: 100 }]);
      const { page, errors } = await open(browser, `${s.server.url}/run`);
      await page.getByLabel("Prompt").fill("Say forty words");
      await page.getByRole("button", { name: "Run", exact: true }).click();
      await page.getByText(/word5\b/).waitFor({ timeout: 60_000 });
      await page.reload();
      await page.getByText("Run completed").waitFor({ timeout: 60_000 });
      const text = await page.getByRole("list", { name: "Run output" }).locator("li.text").allInnerTexts();
      assert.deepEqual(
        text.map((t) => t.trim()),
        [words.join(" ")],
      );
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("tasks: create one through the form, see it queued, cancel it", { timeout }, async () => {
      const dir = await s.sandbox.createCodebase("queued");
      // A codebase of a worker that is not there: its task waits, so it can be cancelled.
      await s.api("POST", "/v1/opencode/codebases", { name: "queued", path: dir, worker_id: "away" });
      const { page, errors } = await open(browser, `${s.server.url}/tasks`);
      await page.getByRole("heading", { name: "No tasks yet: create one" }).waitFor();
      await page.getByRole("button", { name: "Create a task" }).click();
      const form = page.getByRole("form", { name: "Create a task" });
      await form.getByLabel("Codebase").selectOption({ label: "queued" });
      await form.getByLabel("Title").fill("Write the changelog");
      await form.getByLabel("Prompt").fill("Write CHANGELOG.md");
      await form.getByLabel("Priority").fill("5");
      await form.getByRole("button", { name: "Create task" }).click();
      const row = page.getByRole("row", { name: /Write the changelog/ });
      await row.getByText("pending").waitFor();
      await row.getByLabel("Priority 5").waitFor();
      await shot(page, "tasks");
      await row.getByRole("button", { name: "Cancel Write the changelog" }).click();
      await row.getByText("cancelled").waitFor();
      // Search narrows the list as the user types; words may be prefixes.
      const search = page.getByPlaceholder("Search titles and prompts");
      await search.fill("nothing like it");
      await page.getByRole("heading", { name: "No task matches these filters" }).waitFor();
      await search.fill("changel");
      await row.waitFor();
      await row.getByRole("link", { name: "Write the changelog" }).click();
      await page.getByRole("heading", { name: "Write the changelog" }).waitFor();
      // A cancelled task can run again: one click queues a new attempt, and its history says so.
      await page.getByRole("button", { name: "Retry" }).click();
      await page.locator(".page-head").getByText("pending", { exact: true }).waitFor();
      await page.getByText("nothing yet", { exact: true }).waitFor();
      await shot(page, "task-detail");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("workers and status: a registered worker appears; the status page names OpenCode and the database", { timeout }, async () => {
      const { page, errors } = await open(browser, `${s.server.url}/workers`);
      await page.getByRole("heading", { name: "No workers yet" }).waitFor();
      await s.api("POST", "/v1/opencode/worker/register", { name: "w-dash", codebases: [{ name: "queued", path: "/srv/queued" }], concurrency: 2 });
      await page.getByRole("link", { name: "Status" }).click();
      await page.getByRole("link", { name: "Workers" }).click();
      const card = page.getByRole("listitem", { name: "w-dash" });
      await card.getByText("online").waitFor();
      await card.getByText("0 of 2 slots busy", { exact: false }).waitFor();
      await shot(page, "workers");
      await page.getByRole("link", { name: "Status" }).click();
      await page.getByText("embedded PGlite").waitFor();
      await page.getByText("available", { exact: true }).waitFor();
      // The runs of the tests before cost something (the scripted model has a price): the status page adds it up.
      await page.getByRole("heading", { name: "Spent in the last 30 days" }).waitFor();
      await page.getByRole("row", { name: /fake\/fake-model\s+this server/ }).waitFor();
      await shot(page, "status");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("on a phone-sized screen every page fits without sideways scrolling", { timeout }, async () => {
      for (const route of ["/sessions", "/codebases", "/run", "/tasks", "/workers", "/status", "/webhooks"]) {
        const { page } = await open(browser, `${s.server.url}${route}`, 360);
        await page.getByRole("heading", { level: 1 }).first().waitFor();
        // Runs in the page: the DOM's names are not in this (Node) project's types.
        const overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth");
        assert.ok((overflow as number) <= 0, `${route} is ${overflow}px too wide at 360px`);
        if (route === "/codebases") await shot(page, "codebases-phone");
        await page.close();
      }
    });
  }),
);

describe(
  "the web dashboard with an API key",
  { timeout: 300_000 },
  needs(chromiumMissing, () => {
    const key = "dashboard-key-0123456789";
    let s: AgentServer;
    let browser: Browser;
    before(async () => {
      await mkdir(shots, { recursive: true });
      // Only the key prompt is tried here: no agent runs, so no OpenCode is started for it.
      s = await startAgentServer(pgliteDriver, { apiKey: key, opencode: false });
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await s?.close();
    });

    test("asks for the key once, says clearly when it is wrong, keeps it for the tab only", { timeout }, async () => {
      const { page, errors } = await open(browser, `${s.server.url}/codebases`);
      await page.getByRole("heading", { name: "API key" }).waitFor();
      await page.getByLabel("Key", { exact: true }).fill("not-the-key");
      await page.getByRole("button", { name: "Continue" }).click();
      await page
        .getByRole("alert")
        .getByText(/refused \(401\)/)
        .waitFor();
      await shot(page, "key-refused");
      await page.getByLabel("Key", { exact: true }).fill(key);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.getByRole("heading", { name: "No codebases yet: register one" }).waitFor();
      assert.ok(!page.url().includes(key), "never in the URL");
      assert.equal(await page.evaluate("localStorage.length"), 0, "not remembered unless asked");
      await page.reload();
      await page.getByRole("heading", { name: "No codebases yet: register one" }).waitFor();
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("an admin adds a person and their key (shown once); signed in with it, a viewer sees who they are and cannot change things", { timeout }, async () => {
      const { page, errors } = await open(browser, `${s.server.url}/codebases`);
      await page.getByLabel("Key", { exact: true }).fill(key);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.getByRole("link", { name: "Access" }).click();
      await page.getByRole("heading", { name: "Access", level: 1 }).waitFor();
      const addUser = page.getByRole("form", { name: "Add a user" });
      await addUser.getByLabel("Name").fill("dana");
      await addUser.getByLabel("Role").selectOption("viewer");
      await addUser.getByRole("button", { name: "Add user" }).click();
      await page.getByRole("cell", { name: "dana" }).waitFor();
      const createKey = page.getByRole("form", { name: "Create a key" });
      await createKey.getByLabel("Key name").fill("dana's laptop");
      await createKey.getByRole("button", { name: "Create key" }).click();
      const shown = page.getByRole("status").filter({ hasText: "shown this once" });
      const danasKey = ((await shown.locator("code").textContent()) ?? "").trim();
      assert.match(danasKey, /^ctk_[a-z0-9]{12}_/);
      await page.getByRole("cell", { name: /dana's laptop/ }).waitFor();
      await page.getByRole("cell", { name: "key.create" }).first().waitFor();
      await shot(page, "access");
      await shown.getByRole("button", { name: "I have copied it" }).click();
      assert.equal(await page.getByText(danasKey).count(), 0, "the key is gone from the page once dismissed");

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("Key", { exact: true }).fill(danasKey);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.getByRole("region", { name: "Signed in" }).getByText("dana").waitFor();
      await page.getByRole("heading", { name: "Only admins manage access" }).waitFor();
      assert.equal(await page.getByRole("link", { name: "Access" }).count(), 0, "no Access page for a viewer");
      await page.getByRole("link", { name: "Codebases" }).click();
      await page.getByRole("heading", { name: "No codebases yet", exact: true }).waitFor();
      const register = page.getByRole("button", { name: "Register a codebase" });
      assert.equal(await register.isDisabled(), true);
      assert.match((await register.getAttribute("title")) ?? "", /viewer\) can read but not change/);
      await shot(page, "signed-in-viewer");
      assert.deepEqual(errors, []);
      await page.close();
    });
  }),
);
