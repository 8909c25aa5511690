/** Finding the `opencode` binary and asking its version. */
import { execFile } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { packageRoot } from "../package-root.js";

function isExecutableFile(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Our own pinned dependency (`opencode-ai`'s binary, wherever npm put it), used when nothing is on PATH. */
const bundled = (() => {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve("opencode-ai/package.json")), "bin", "opencode.exe");
  } catch {
    return path.join(packageRoot, "node_modules", ".bin", "opencode");
  }
})();

/**
 * The binary to run: the explicit setting (OPENCODE_BIN) if given, else the first
 * `opencode` on PATH, else the one installed with this package. Null when none is usable.
 */
export function findOpencodeBinary(explicit?: string, envPath = process.env.PATH ?? ""): string | null {
  if (explicit) return isExecutableFile(explicit) ? path.resolve(explicit) : null;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "opencode");
    if (isExecutableFile(candidate)) return candidate;
  }
  return isExecutableFile(bundled) ? bundled : null;
}

/** `opencode --version`, or null when it cannot be run. */
export function opencodeVersion(binary: string, timeoutMs = 15_000): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(binary, ["--version"], { timeout: timeoutMs }, (err, stdout) => {
      const version = stdout.trim().split("\n").at(-1)?.trim();
      resolve(err || !version ? null : version);
    });
  });
}
