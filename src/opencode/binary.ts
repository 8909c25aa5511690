/** Finding the `opencode` binary and asking its version. */
import { execFile } from "node:child_process";
import { accessSync, constants, readFileSync, realpathSync, statSync } from "node:fs";
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

/**
 * Our own pinned dependency (`opencode-ai`'s binary, wherever npm put it), used when nothing is on PATH, and its
 * version as npm installed it (the platform binary it carries is pinned to the same version).
 */
const bundled = (() => {
  try {
    const manifest = createRequire(import.meta.url).resolve("opencode-ai/package.json");
    const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version?: unknown };
    return { binary: path.join(path.dirname(manifest), "bin", "opencode.exe"), version: typeof version === "string" ? version : null };
  } catch {
    return { binary: path.join(packageRoot, "node_modules", ".bin", "opencode"), version: null };
  }
})();

/** True when `binary` is our own dependency's, under whatever name it was found (npm links it into node_modules/.bin). */
function isBundled(binary: string): boolean {
  try {
    return realpathSync(binary) === realpathSync(bundled.binary);
  } catch {
    return false;
  }
}

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
  return isExecutableFile(bundled.binary) ? bundled.binary : null;
}

/** `opencode --version`, or null when it cannot be run. */
function opencodeVersion(binary: string, timeoutMs = 15_000): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(binary, ["--version"], { timeout: timeoutMs }, (err, stdout) => {
      const version = stdout.trim().split("\n").at(-1)?.trim();
      resolve(err || !version ? null : version);
    });
  });
}

/** The OpenCode API generation this bridge speaks: 1.x (classic routes). 2.x moved them under `/api/*`. */
export const supportedOpencodeMajor = 1;

/** The major version of a version string (`1.18.33` → 1, `v2.0.1` → 2), or null. */
function majorVersion(version: string | null | undefined): number | null {
  const m = /(\d+)\.\d+/.exec(version ?? "");
  return m ? Number(m[1]) : null;
}

/** True when the version is of an OpenCode this bridge cannot drive yet. */
export const isUnsupportedOpencode = (version: string | null | undefined) => {
  const major = majorVersion(version);
  return major !== null && major > supportedOpencodeMajor;
};

export interface OpencodeBinaryChoice {
  binary: string | null;
  version: string | null;
  /** An `opencode` passed over because it is a version this bridge does not speak (the pinned one runs instead). */
  skipped: { binary: string; version: string } | null;
}

const versions = new Map<string, Promise<string | null>>();

/**
 * `opencode --version` costs a process start (0.6 s, most of a CPU second): asked once per binary (a failed probe is
 * asked again next time), and not at all of our own dependency, whose version its package says.
 */
function cachedOpencodeVersion(binary: string): Promise<string | null> {
  let v = versions.get(binary);
  if (!v) {
    v = bundled.version !== null && isBundled(binary) ? Promise.resolve(bundled.version) : opencodeVersion(binary);
    versions.set(binary, v);
    void v.then((r) => r === null && versions.delete(binary));
  }
  return v;
}

/**
 * The binary to run, as `findOpencodeBinary` finds it, unless that one is an
 * OpenCode 2.x (or later): then the pinned 1.x dependency runs, and `skipped` says
 * what was passed over, so the status and the log can say so.
 */
export async function chooseOpencodeBinary(explicit?: string, envPath = process.env.PATH ?? ""): Promise<OpencodeBinaryChoice> {
  const found = findOpencodeBinary(explicit, envPath);
  if (!found) return { binary: null, version: null, skipped: null };
  const version = await cachedOpencodeVersion(found);
  if (!isUnsupportedOpencode(version) || found === bundled.binary || !isExecutableFile(bundled.binary)) return { binary: found, version, skipped: null };
  return { binary: bundled.binary, version: await cachedOpencodeVersion(bundled.binary), skipped: { binary: found, version: version! } };
}
