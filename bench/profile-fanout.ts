/**
 * Profiles the server during one fan-out scenario:
 * `node --import tsx bench/profile-fanout.ts <subscribers> <events/s> <profile dir>` writes the
 * server's CPU profile (node --cpu-prof) to the directory.
 */
import { benchFanoutOne } from "./fanout.js";

const [subscribers = "1000", rate = "10", dir = "/tmp/codetether-profile"] = process.argv.slice(2);
const result = await benchFanoutOne({ subscribers: Number(subscribers), eventsPerSecond: Number(rate) }, ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
console.log(result);
process.exit(0);
