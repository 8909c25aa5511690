/** Where a claimed task runs on this worker's machine. */
import path from "node:path";
import { isInside, realInside } from "../services/codebases/paths.js";

/**
 * The task's directory under the worker's own copy of the codebase (`localBase`):
 * the server's `working_directory`, taken relative to the server's idea of the
 * codebase path, else the copy itself. Null when it is missing or leads outside the
 * copy, lexically (`..`) or through a symlink.
 */
export async function workerDirectory(localBase: string, serverBase: string, workingDirectory: unknown): Promise<string | null> {
  let target = localBase;
  if (typeof workingDirectory === "string") {
    const rel = path.relative(serverBase, workingDirectory);
    target = path.join(localBase, rel);
    if (!isInside(localBase, target)) return null;
  }
  return realInside(localBase, target);
}
