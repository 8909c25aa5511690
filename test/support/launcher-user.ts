/**
 * A process that runs a command through the launcher: `launcher-user.mjs <pid file>`, once test/git/launcher.test.ts
 * has bundled it to plain JavaScript. The command writes its launcher's pid and its own to the pid file and sleeps;
 * this process waits (to be killed, which is the test).
 */
import { launch } from "../../src/git/launcher.js";

const [pidFile] = process.argv.slice(2);
void launch({ file: "sh", args: ["-c", 'echo "$PPID $$" > "$0.part" && mv "$0.part" "$0" && exec sleep 120', pidFile!], timeoutMs: 120_000 });
setTimeout(() => {}, 120_000);
