/**
 * The headless Chromium the browser tests drive: `/usr/bin/chromium` when the machine has one, otherwise
 * the Chromium that ships inside the `@sparticuz/chromium` npm package (unpacked to the OS temp dir on first
 * use), so `npm ci && npm test` needs no system package. Either way the browser stays off the network: the
 * tests only talk to servers they started on loopback.
 */
import { existsSync } from 'node:fs';
import sparticuz from '@sparticuz/chromium';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian and Ubuntu install Chromium. */
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/**
 * Flags that keep Chromium from calling home (updates, sync, safe browsing, metrics, QUIC) and let it resolve
 * no name but loopback, so a test that reached for the network fails instead of leaking a request.
 */
export const OFFLINE_ARGS: readonly string[] = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-default-apps',
  '--no-first-run',
  '--no-pings',
  '--disable-quic',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

/**
 * Flags from @sparticuz/chromium's serverless list that would weaken what the tests check (same-origin
 * policy, mixed content): the viewer must be tested under the browser's normal rules.
 */
const WEAKENING = new Set(['--disable-web-security', '--allow-running-insecure-content']);

/** The executable and the flags to launch it with. */
export interface ChromiumCommand {
  executablePath: string;
  args: string[];
}

let packaged: Promise<ChromiumCommand> | undefined;

/**
 * Picks the Chromium to run: `systemPath` when it exists, else the npm-packaged one (unpacked once per
 * process; the package itself reuses an earlier unpack in the temp dir).
 */
export async function chromiumCommand(systemPath = SYSTEM_CHROMIUM): Promise<ChromiumCommand> {
  // Root has no sandbox to drop into; the pages are the tests' own loopback servers.
  if (existsSync(systemPath)) return { executablePath: systemPath, args: ['--no-sandbox', ...OFFLINE_ARGS] };
  packaged ??= sparticuz.executablePath().then((executablePath) => ({
    executablePath,
    args: [...sparticuz.args.filter((arg) => !WEAKENING.has(arg)), ...OFFLINE_ARGS],
  }));
  return packaged;
}

/**
 * Launches headless Chromium in a fresh temporary profile (playwright's default, removed on close).
 * Call `close()` on the result in a `finally`.
 */
export async function launchBrowser(): Promise<Browser> {
  const { executablePath, args } = await chromiumCommand();
  return chromium.launch({ executablePath, args, headless: true });
}
