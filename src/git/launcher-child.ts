/**
 * The helper process launcher.ts starts (built to dist/git/launcher-child.js): it runs the commands its parent
 * sends over the IPC channel and answers each with its result. It holds almost no memory, which is the point: a
 * fork() from here costs a few milliseconds whatever the parent holds. It exits when its parent goes (the channel
 * closes, also when the parent is SIGKILLed) and stops the commands still running then.
 */
import { setMaxListeners } from "node:events";
import { type CommandRequest, type CommandResult, notStarted, runCommand } from "./command.js";

export type LaunchRequest = CommandRequest & { id: number };
export type LaunchAnswer = CommandResult & { id: number };

if (process.send) {
  const send = process.send.bind(process);
  const parentGone = new AbortController();
  setMaxListeners(0, parentGone.signal); // one listener per command running

  process.on("message", (request: LaunchRequest) => {
    void runCommand(request, parentGone.signal)
      .catch((err: Error) => notStarted(err))
      .then((result) => {
        if (process.connected) send({ ...result, id: request.id } satisfies LaunchAnswer);
      });
  });
  // What still runs was asked for by a parent that is gone: stop it, then end.
  process.on("disconnect", () => {
    parentGone.abort();
    setImmediate(() => process.exit(0));
  });
}
