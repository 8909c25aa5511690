/**
 * The structured log of the server and the worker (pino): one JSON object per line
 * when stdout is a pipe or a file (for log shippers), readable coloured lines when
 * it is a terminal. Secrets never reach it: known secret fields are redacted by
 * path, and every line is scrubbed of the secret values this process knows (keys,
 * tokens, provider keys, the database password), wherever they appear.
 */
import { readFileSync } from "node:fs";
import { type Logger, pino } from "pino";
import pretty from "pino-pretty";
import type { LogLevel, OpencodeSettings } from "../config.js";

export type { Logger };

export interface LoggerOptions {
  /** `codetether` or `codetether-worker`. */
  name: string;
  level: LogLevel;
  /** Values to scrub from every line, wherever they appear. */
  secrets: readonly (string | undefined)[];
  /** Where lines go (default: stdout, pretty when it is a terminal). */
  destination?: NodeJS.WritableStream;
}

/** Fields that hold secrets by name, at any depth pino can match. */
const redactPaths = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "apiKey",
  "*.apiKey",
  "*.api_key",
  "token",
  "*.token",
  "lease_token",
  "*.lease_token",
  "*.password",
];

/** The secret part of a user's API key (`ctk_<id>_<secret>`, services/access/keys.ts). */
const userKeySecret = /(ctk_[a-z0-9]{12}_)[A-Za-z0-9_-]{20,}/g;

/** Secrets shorter than this are not scrubbed by value (they would match ordinary text). */
const minSecretLength = 6;

export function createLogger(options: LoggerOptions): Logger {
  const secrets = [...new Set(options.secrets.filter((s): s is string => typeof s === "string" && s.length >= minSecretLength))].sort(
    (a, b) => b.length - a.length,
  );
  const scrub = (line: string) => {
    let out = line;
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
    // Users' keys are not known at start-up, but they look alike: their secret part goes, their public id stays.
    if (out.includes("ctk_")) out = out.replace(userKeySecret, "$1[redacted]");
    return out;
  };
  const toTerminal = !options.destination && process.stdout.isTTY === true;
  const destination =
    options.destination ??
    (toTerminal
      ? pretty({ sync: true, colorize: true, ignore: "pid,hostname,name", translateTime: "SYS:HH:MM:ss.l" })
      : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: { paths: redactPaths, censor: "[redacted]" },
      hooks: { streamWrite: scrub },
      serializers: { err: pino.stdSerializers.err },
    },
    destination as pino.DestinationStream,
  );
}

/** Environment variables whose values are secrets by their name (provider keys and the like). */
const secretName = /(API_KEY|_TOKEN|_SECRET|PASSWORD)$/i;

/** The secret values a process can know of: its keys and tokens, secret-named env vars, the database password, provider keys. */
export function knownSecrets(env: NodeJS.ProcessEnv, extra: readonly (string | undefined)[] = []): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(env)) if (value && secretName.test(name)) found.push(value.trim());
  const url = env.DATABASE_URL?.trim();
  if (url) {
    try {
      const password = decodeURIComponent(new URL(url).password);
      if (password) found.push(password);
    } catch {
      // not a URL: nothing to take from it
    }
  }
  for (const value of extra) if (value) found.push(value);
  return found;
}

/**
 * The provider keys written into the OpenCode configuration a process runs with
 * (CODETETHER_OPENCODE_CONFIG or the worker's --opencode-config: a file or inline JSON).
 */
export function providerConfigKeys(providers: OpencodeSettings["providerConfig"]): string[] {
  const found: string[] = [];
  if (!providers) return found;
  try {
    collectApiKeys(JSON.parse("file" in providers ? readFileSync(providers.file, "utf8") : providers.content), found);
  } catch {
    // unreadable or not JSON now: OpenCode will say so; its env-named keys are scrubbed anyway
  }
  return found;
}

/** Every `apiKey` string in an opencode.json-like value. */
function collectApiKeys(value: unknown, into: string[]): void {
  if (!value || typeof value !== "object") return;
  for (const [key, inner] of Object.entries(value)) {
    if (typeof inner === "string" && /^(apiKey|api_key|token)$/i.test(key)) into.push(inner);
    else collectApiKeys(inner, into);
  }
}
