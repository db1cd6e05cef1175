/**
 * What every browser test of the console shares: the console built from its sources (Vite, into a
 * temporary directory, never an older build), a platform on the embedded store serving it, and
 * Debian's Chromium driven by playwright-core. A page records what would break the console's rules
 * (a request off the server's origin, a script error, a Content-Security-Policy refusal), so that a
 * test ends with `assert.deepEqual(violations, [])`. With MOORING_CONSOLE_SCREENSHOTS=1, `shot` saves
 * pictures to docs/console/ (the ones the README and docs show). A page's addresses are relative to the
 * server's origin (`page.goto('/console/fleet')`).
 *
 * The steps the test files share are here too: a tenant with a user (`tenantWith`, `tenantUser`), a
 * page signed in on a screen (`openAs`), the API called as a tenant (`apiWith`), two-factor
 * authentication turned on through the API (`enrolTotp`), an artifact uploaded (`uploadArtifact`), and
 * what a screen shows read off it (`assertOnScreen`, `countsOf`, `idInAddress`).
 *
 * Without Chromium a test file skips (`missing`); CI installs it (.ci/run), so there its absence fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { build } from 'vite';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { totpCode } from '../../server/src/domains/users/totp.js';

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
      baseURL: origin,
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

/** Opens a screen of the console (`screen`: its path and query under /console/) and signs in there. */
export async function openAs(
  page: Page,
  screen: string,
  username: string,
  password = PASSWORD,
): Promise<void> {
  await page.goto(`/console/${screen}`);
  await signIn(page, username, password);
}

/**
 * Waits for the screen's heading, then checks what says which screen this is: the page's title and
 * the navigation's link to it marked as the current page.
 */
export async function assertOnScreen(page: Page, name: string): Promise<void> {
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  // The title is set by an effect after the screen paints: on a loaded machine it can come a moment
  // after the heading, so it is waited for (briefly), then asserted.
  const title = `${name} · Mooring console`;
  await page.waitForFunction((t) => document.title === t, title, { timeout: 5_000 }).catch(() => undefined);
  assert.equal(await page.title(), title);
  const nav = page.getByRole('navigation', { name: 'Screens' });
  assert.equal(await nav.getByRole('link', { name }).getAttribute('aria-current'), 'page');
}

/**
 * The counts a screen shows in its `.counts` list, term by term, as they are now (no wait): a number
 * where the text is one, else the text itself, so that a mismatch shows what was there.
 */
export function countsOf(scope: Page | Locator): Promise<Record<string, number | string>> {
  return scope.locator('.counts > div').evaluateAll((els) =>
    Object.fromEntries(
      els.map((e) => {
        const text = e.querySelector('dd')?.textContent ?? '';
        return [e.querySelector('dt')?.textContent ?? '', /^\d+$/.test(text) ? Number(text) : text];
      }),
    ),
  );
}

/** The last segment of the page's address, decoded: the id of the deployment or device it shows. */
export function idInAddress(page: Page): string {
  return decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
}

/** Calls the API as the holder of a token; see `apiWith`. */
export type Api = (method: string, path: string, body?: unknown) => Promise<any>;

/**
 * `api(method, path, body?)` as the holder of `token`: the answer's body, once it is asserted a
 * success (200 for a GET, any 2xx otherwise; the answer's text is in the message).
 */
export function apiWith(t: TestPlatform, token: string): Api {
  return async (method, path, body) => {
    const r = await t.call(method, path, { token, ...(body !== undefined ? { body } : {}) });
    const ok = method === 'GET' ? r.status === 200 : r.status >= 200 && r.status < 300;
    assert.ok(ok, `${method} ${path}: ${r.status} ${r.text}`);
    return r.body;
  };
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

/** A new tenant with its API key, and one user of it with these grants (default: owner). */
export async function tenantWith(
  t: TestPlatform,
  name: string,
  username: string,
  grants?: { role: string; tags?: string[] }[],
): Promise<{ tenantId: string; apiKey: string; userId: string }> {
  const tenant = await t.tenant(name);
  return { ...tenant, userId: await tenantUser(t, tenant.tenantId, username, grants) };
}

/**
 * Two-factor authentication turned on through the API, as the user's own session does it: log in,
 * begin (POST /v1/auth/totp), confirm with the current code. `at` is when that code was made: it is
 * spent, so a sign-in after this takes the code of the next time step, `totpCode(secret, at + 30_000)`.
 */
export async function enrolTotp(
  t: TestPlatform,
  username: string,
  password = PASSWORD,
): Promise<{ secret: string; at: number }> {
  const login = await t.call('POST', '/v1/auth/login', { body: { username, password } });
  assert.equal(login.status, 200, login.text);
  const begin = await t.call('POST', '/v1/auth/totp', { token: login.body.token });
  assert.equal(begin.status, 200, begin.text);
  const secret = begin.body.secret as string;
  const at = Date.now();
  const confirmed = await t.call('POST', '/v1/auth/totp/confirm', {
    token: login.body.token,
    body: { code: totpCode(secret, at) },
  });
  assert.equal(confirmed.status, 200, confirmed.text);
  return { secret, at };
}

/** A firmware image (4 KiB of random bytes) uploaded as an artifact; its id. */
export async function uploadArtifact(
  t: TestPlatform,
  token: string,
  { version, hardwareClass, sequence }: { version: string; hardwareClass: string; sequence: number },
): Promise<string> {
  const query = new URLSearchParams({ version, hardwareClass, sequence: String(sequence) });
  const r = await t.call('POST', `/v1/artifacts?${query}`, {
    token,
    raw: randomBytes(4096),
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}
