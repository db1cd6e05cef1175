/**
 * The Fleet screen's bulk jobs in a real browser against a real server: on a tag filter,
 *
 * - an operator sets the desired configuration of every matching device: the count the console shows
 *   is the API's dry run, the confirmation acts, the job's progress is shown until it is done, then
 *   its result (changed, and the device its schema refuses skipped and named); through the API each
 *   changed device's desired document has the patch and a version one higher, the skipped one none,
 *   and a device outside the filter is untouched;
 * - a patch that is not JSON is said on its field and nothing is sent;
 * - the operator, who may not revoke, is refused the revocation's count, by name;
 * - an owner revokes every credential behind a confirmation that says it cannot be undone: the
 *   matching device's access key no longer reaches the device API, the other device's still does;
 * - "Deploy to these devices" opens the new-deployment form with the tag filter as its target, and
 *   names the filter a deployment cannot take (connected).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { TestPlatform } from '../../server/test/harness.js';
import {
  apiWith,
  assertOnScreen,
  missing,
  openAs,
  startConsole,
  tenantUser,
  tenantWith,
  uploadArtifact,
  type Api,
  type ConsoleHarness,
} from './browser-harness.js';

let h: ConsoleHarness;
let t: TestPlatform;
let tenant: { tenantId: string; apiKey: string };
let api: Api;

before(async () => {
  if (missing) return;
  h = await startConsole();
  t = h.t;
  tenant = await tenantWith(t, 'bulk-jobs', 'bulk-owner');
  await tenantUser(t, tenant.tenantId, 'bulk-operator', [{ role: 'operator' }]);
  api = apiWith(t, tenant.apiKey);
});
after(async () => {
  await h?.stop();
});

/** Every text the page's bulk job section shows, in the order it showed them (a job may end quickly). */
async function recordJobTexts(page: Page): Promise<() => Promise<string[]>> {
  // A string, not a function: the test's compiler would wrap a function's inner names in a helper
  // that exists only in Node.
  await page.evaluate(`{
    const seen = (window.jobTexts = []);
    new MutationObserver(() => {
      const text = document.querySelector('section.bulk-job')?.textContent ?? '';
      if (text && seen.at(-1) !== text) seen.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  }`);
  return () => page.evaluate<string[]>('window.jobTexts');
}

/** The POSTs to the bulk route the page sent, from now on. */
function bulkPosts(page: Page): Record<string, unknown>[] {
  const sent: Record<string, unknown>[] = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/devices/bulk')
      sent.push(r.postDataJSON());
  });
  return sent;
}

test(
  'bulk desired configuration on a filter: counted as the API counts, confirmed, its progress until done, changed and skipped; a patch that is not JSON is said and not sent; revoking is refused to an operator',
  { skip: missing, timeout: 120_000 },
  async () => {
    await api('POST', '/v1/config-schemas', {
      name: 'strict',
      tag: 'strict',
      schema: { properties: { interval: { maximum: 10 } } },
    });
    const cfg: string[] = [];
    for (let i = 1; i <= 3; i++)
      cfg.push((await t.device(tenant.apiKey, { name: `cfg-${i}`, tags: ['line:cfg'] })).deviceId);
    await api('PATCH', `/v1/devices/${cfg[0]}/config/desired`, { debug: true, keep: 'me' });
    const strict = (await t.device(tenant.apiKey, { name: 'cfg-strict', tags: ['line:cfg', 'strict'] }))
      .deviceId;
    const outside = (await t.device(tenant.apiKey, { name: 'other-1', tags: ['line:other'] })).deviceId;
    const desired = async (id: string) =>
      (await api('GET', `/v1/devices/${id}/config`)).desired as {
        version: number;
        document: Record<string, unknown>;
      };
    const before = new Map(
      await Promise.all([...cfg, strict].map(async (id) => [id, await desired(id)] as const)),
    );
    const patch = { interval: 30, debug: null };
    const dry = await api('POST', '/v1/devices/bulk', {
      filter: { tag: 'line:cfg' },
      action: { type: 'setDesiredConfig', patch },
      dryRun: true,
    });
    assert.equal(dry.matched, 4);

    const { context, page, violations } = await h.phone();
    const posts = bulkPosts(page);
    await openAs(page, 'fleet?tag=line%3Acfg', 'bulk-operator');
    await assertOnScreen(page, 'Fleet');
    await page.getByRole('status').filter({ hasText: 'Page 1: 4 devices.' }).waitFor();
    const panel = page.locator('details.bulk');
    await panel.getByText('Change every matching device').click();
    await panel.getByLabel('Change').selectOption('setDesiredConfig');
    const field = panel.getByLabel('Desired configuration (JSON Merge Patch)');

    // Not JSON: said on the field, and the count is refused before anything is sent.
    await field.fill('{ "interval": 30, ');
    await panel.locator('.field-error').filter({ hasText: 'Not JSON' }).waitFor();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await panel.getByRole('alert').filter({ hasText: 'The desired configuration: Not JSON' }).waitFor();
    // An array is JSON but no merge patch: said the same way.
    await field.fill('[1, 2]');
    await panel.locator('.field-error').filter({ hasText: 'A JSON Merge Patch is an object' }).waitFor();
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await panel.getByRole('alert').filter({ hasText: 'A JSON Merge Patch is an object' }).waitFor();
    assert.equal(posts.length, 0, 'a patch that is not a JSON object was sent');
    for (const id of [...cfg, strict]) assert.deepEqual(await desired(id), before.get(id));

    // A patch: the dry run's count is the API's, and nothing changes until it is confirmed.
    await field.fill(JSON.stringify(patch));
    assert.equal(await panel.locator('.field-error').count(), 0);
    assert.equal(await field.getAttribute('aria-invalid'), null);
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    const confirm = panel.getByRole('group', { name: 'Confirm the change' });
    await confirm.getByText(`${dry.matched} devices match.`).waitFor();
    assert.equal(posts.length, 1);
    assert.deepEqual(posts[0], {
      filter: { tag: 'line:cfg' },
      action: { type: 'setDesiredConfig', patch },
      dryRun: true,
    });
    for (const id of [...cfg, strict])
      assert.deepEqual(await desired(id), before.get(id), 'a dry run changed');

    const jobTexts = await recordJobTexts(page);
    await confirm.getByRole('button', { name: 'Set the desired configuration of 4 devices' }).click();
    const done = panel
      .getByRole('status')
      .filter({ hasText: 'Done: 4 of 4 devices done: 3 changed, 1 skipped.' });
    await done.waitFor({ timeout: 30_000 });
    assert.equal(await panel.locator('section.bulk-job').getAttribute('data-status'), 'done');
    const shown = await jobTexts();
    const progress = shown.findIndex((s) => s.startsWith('Setting the desired configuration:'));
    assert.ok(progress >= 0, `the job's progress was never shown: ${JSON.stringify(shown)}`);
    assert.ok(
      progress < shown.findIndex((s) => s.startsWith('Done:')),
      `the progress came after the result: ${JSON.stringify(shown)}`,
    );
    assert.equal(posts[1]?.expectMatched, 4);
    // The skipped device, named with why.
    await panel.getByText('Skipped devices').click();
    const skipped = panel.getByRole('listitem').filter({ hasText: strict });
    await skipped.waitFor();
    assert.match((await skipped.textContent()) ?? '', /interval|schema|maximum/i);

    // Through the API: the patch merged into each changed device, one version more; the others as they were.
    for (const [i, id] of cfg.entries()) {
      const d = await desired(id);
      assert.deepEqual(d.document, i === 0 ? { keep: 'me', interval: 30 } : { interval: 30 });
      assert.equal(d.version, before.get(id)!.version + 1);
    }
    assert.deepEqual(await desired(strict), before.get(strict), 'the device its schema refuses changed');
    assert.equal((await desired(outside)).version, 0, 'a device outside the filter changed');

    // Revoking needs a permission an operator does not hold: the count is refused, by name.
    await panel.getByLabel('Change').selectOption('revoke');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await panel.getByRole('alert').filter({ hasText: 'FORBIDDEN' }).waitFor();
    assert.equal(await confirm.count(), 0);
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'bulk revoke behind its confirmation: the access keys of the matching devices stop working, the others do not; Deploy to these devices opens a deployment on the tag and names the filter it cannot take',
  { skip: missing, timeout: 120_000 },
  async () => {
    const gone = await t.device(tenant.apiKey, { name: 'rev-1', tags: ['line:rev'] });
    const kept = await t.device(tenant.apiKey, { name: 'rev-kept', tags: ['line:keep'] });
    const telemetry = (accessKey: string) =>
      t.call('POST', '/v1/device/telemetry', {
        token: accessKey,
        body: [{ ts: Date.now(), values: { temp: 20 } }],
      });
    assert.equal((await telemetry(gone.accessKey)).status, 202);
    await uploadArtifact(t, tenant.apiKey, { version: '2.0.0', hardwareClass: 'rev-board', sequence: 1 });

    const { context, page, violations } = await h.phone();
    await openAs(page, 'fleet?tag=line%3Arev', 'bulk-owner');
    await page.getByRole('status').filter({ hasText: 'Page 1: 1 device.' }).waitFor();
    const panel = page.locator('details.bulk');
    await panel.getByText('Change every matching device').click();
    await panel.getByLabel('Change').selectOption('revoke');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    const confirm = panel.getByRole('group', { name: 'Confirm the change' });
    await confirm.getByText('1 device matches.').waitFor();
    await confirm.getByText('cannot be undone').waitFor();
    // Cancelled, nothing happens.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(
      (await telemetry(gone.accessKey)).status,
      202,
      'the key stopped working before a confirmation',
    );

    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await confirm.getByRole('button', { name: 'Revoke every credential of 1 device' }).click();
    await panel.getByRole('status').filter({ hasText: 'Done: 1 of 1 device done: 1 changed.' }).waitFor({
      timeout: 30_000,
    });
    const refused = await telemetry(gone.accessKey);
    assert.equal(refused.status, 401, refused.text);
    assert.equal((await telemetry(kept.accessKey)).status, 202, 'a device outside the filter lost its key');

    // Deploy to these devices: the tag becomes the target; the connection filter is named as left out.
    await page.goto('/console/fleet?tag=line%3Arev&connected=true');
    await assertOnScreen(page, 'Fleet');
    const deploy = page.locator('.deploy-link');
    await deploy.getByText('A deployment cannot target by connected').waitFor();
    await deploy.getByRole('link', { name: 'Deploy to these devices' }).click();
    await assertOnScreen(page, 'Deployments');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('tags'), 'line:rev');
    assert.equal(url.searchParams.get('connected'), null);
    const form = page.getByRole('form', { name: 'New deployment' });
    await form.waitFor();
    assert.equal(await form.getByLabel('Tags', { exact: true }).inputValue(), 'line:rev');
    assert.equal(await form.getByLabel('Running versions').inputValue(), '');
    // Without a filter a deployment can take, the link names nothing.
    await page.goto('/console/fleet?tag=line%3Arev');
    await page.locator('.deploy-link').getByRole('link', { name: 'Deploy to these devices' }).waitFor();
    assert.equal(await page.locator('.deploy-link .hint').count(), 0);
    assert.deepEqual(violations, []);
    await context.close();
  },
);
