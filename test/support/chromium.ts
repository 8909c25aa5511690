/**
 * Debian's Chromium, driven by playwright-core (never a downloaded browser), for the browser tests and the dashboard
 * bench. `chromiumMissing` is the reason a suite skips on a machine without it; under CI (.ci/run installs it) a
 * missing one fails instead.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

const chromiumPath = "/usr/bin/chromium";

export const chromiumMissing: string | false =
  existsSync(chromiumPath) || process.env.CI ? false : `needs ${chromiumPath} (apt-get install chromium; .ci/run does)`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      // Chromium keeps a spare renderer process started for the next page of its default profile. Every page here
      // lives in a context of its own, which never takes it, so each new page started another spare for nothing:
      // 60 renderers for the dashboard test against 40 without, and a quarter less of their CPU.
      "--disable-features=SpareRendererForSitePerProcess",
    ],
  });
}
