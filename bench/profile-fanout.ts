/**
 * Profiles the server during one fan-out scenario:
 * `node --import tsx bench/profile-fanout.ts <subscribers> <events/s> <profile dir>` writes the
 * server's CPU profile (node --cpu-prof) to the directory; on the Postgres of DATABASE_URL when it is set, else PGlite.
 */
import { benchFanoutOne } from "./fanout.js";

const [subscribers = "1000", rate = "10", dir = "/tmp/codetether-profile"] = process.argv.slice(2);
const result = await benchFanoutOne(
  { subscribers: Number(subscribers), eventsPerSecond: Number(rate) },
  ["--cpu-prof", `--cpu-prof-dir=${dir}`],
  process.env.DATABASE_URL?.trim() || undefined,
);
console.log(result);
process.exit(0);
