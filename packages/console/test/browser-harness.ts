/**
 * What every browser test of the console shares: the console built from its sources (Vite, into a
 * temporary directory, never an older build), a platform on the embedded store serving it, and
 * Debian's Chromium driven by playwright-core. A page records what would break the console's rules
 * (a request off the server's origin, a script error, a Content-Security-Policy refusal), so that a
 * test ends with `assert.deepEqual(violations, [])`. With MOORING_CONSOLE_SCREENSHOTS=1, `shot` saves
 * pictures to docs/console/ (the ones the README and docs show).
 *
 * Without Chromium a test file skips (`missing`); CI installs it (.ci/run), so there its absence fails.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { build } from 'vite';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';

const CHROMIUM = process.env.MOORING_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.MOORING_CONSOLE_SCREENSHOTS === '1';
const consoleDir = fileURLToPath(new URL('..', import.meta.url));
const screenshotDir = fileURLToPath(new URL('../../../docs/console/', import.meta.url));

/** A password the tests give the users they make. */
export const PASSWORD = 'tidal harbour lantern 9';

/** Why the browser tests cannot run here, or false. */
export const missing: string | false = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM}: apt-get install -y chromium`;
if (missing && process.env.CI) throw new Error(missing);

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  /** What broke the console's rules so far. */
  violations: string[];
}

export interface ConsoleHarness {
  t: TestPlatform;
  browser: Browser;
  /** `https://127.0.0.1:<port>`: the console is at `${origin}/console/`. */
  origin: string;
  /** A phone-sized page (390 × 844). */
  phone(): Promise<ConsolePage>;
  /** A desktop-sized page (1280 × 900). */
  desktop(): Promise<ConsolePage>;
  stop(): Promise<void>;
}

const CHROMIUM_ARGS = [
  // No sandbox as root; nothing that would reach out of this machine on its own.
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Builds the console, starts a platform serving it (with `env`) and Chromium. */
export async function startConsole(env: Record<string, string> = {}): Promise<ConsoleHarness> {
  const buildDir = mkdtempSync(join(tmpdir(), 'mooring-console-build-'));
  // The sources, never an older build: the same configuration as `npm run build`, another outDir.
  await build({
    configFile: join(consoleDir, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: buildDir, emptyOutDir: true },
  });
  const [t, browser] = await Promise.all([
    startTestPlatform(env, { consoleDir: buildDir }),
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }),
  ]);
  const origin = `https://127.0.0.1:${t.platform.httpPort}`;

  async function open(viewport: { width: number; height: number }): Promise<ConsolePage> {
    // The server's certificate is the platform CA's, which this browser does not know; TLS itself
    // is another test's subject.
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport,
      deviceScaleFactor: viewport.width < 600 ? 2 : 1,
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.origin !== origin && url.protocol !== 'data:') violations.push(`request to ${r.url()}`);
    });
    page.on('pageerror', (e) => violations.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(`console: ${m.text()}`);
    });
    return { context, page, violations };
  }

  return {
    t,
    browser,
    origin,
    phone: () => open({ width: 390, height: 844 }),
    desktop: () => open({ width: 1280, height: 900 }),
    async stop() {
      await browser.close();
      await t.stop();
      rmSync(buildDir, { recursive: true, force: true });
    },
  };
}

/** A picture of the page, or of one part of it, for the docs (only with MOORING_CONSOLE_SCREENSHOTS=1). */
export async function shot(what: Page | Locator, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await ('goto' in what ? what.screenshot({ path, fullPage: true }) : what.screenshot({ path }));
}

/** Fills the sign-in form and submits it. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A user of the tenant with these grants (default: owner), made by the platform administrator. */
export async function tenantUser(
  t: TestPlatform,
  tenantId: string,
  username: string,
  grants: { role: string; tags?: string[] }[] = [{ role: 'owner' }],
): Promise<string> {
  const r = await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: await t.adminToken(),
    body: { username, password: PASSWORD, grants },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.userId ?? r.body.id;
}
