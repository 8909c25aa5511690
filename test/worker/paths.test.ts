/** Where a worker runs a task: never outside its own copy of the codebase, symlinks included. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, realpath, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { workerDirectory } from "../../src/worker/paths.js";

describe("the worker's task directory", () => {
  let root: string;
  let copy: string;
  let outside: string;
  before(async () => {
    root = await realpath(await mkdtemp(path.join(os.tmpdir(), "ct-wpaths-")));
    copy = path.join(root, "copy");
    outside = path.join(root, "outside");
    await mkdir(path.join(copy, "pkg"), { recursive: true });
    await mkdir(outside);
    await symlink(outside, path.join(copy, "escape"));
    await symlink("/", path.join(copy, "root"));
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("the copy itself, or a directory inside it, by the server's working_directory", async () => {
    assert.equal(await workerDirectory(copy, "/srv/app", undefined), copy);
    assert.equal(await workerDirectory(copy, "/srv/app", "/srv/app/pkg"), path.join(copy, "pkg"));
  });

  test("a working_directory that leads out (.., a symlink to elsewhere or to /) is refused", async () => {
    assert.equal(await workerDirectory(copy, "/srv/app", "/srv/elsewhere"), null);
    assert.equal(await workerDirectory(copy, "/srv/app", "/srv/app/escape"), null);
    assert.equal(await workerDirectory(copy, "/srv/app", "/srv/app/root"), null);
    assert.equal(await workerDirectory(copy, "/srv/app", "/srv/app/missing"), null);
  });
});
