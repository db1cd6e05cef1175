/**
 * `mooring limits` against a real server: show, set and clear for the tenant and a device (the device's
 * override beating the tenant's), a refused value printed with its path and exit code, and the limit
 * events after a 429.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { runCli, serverArgs, type Run } from './run-cli.js';

let t: TestPlatform;
let work: string;
let caFile: string;
let apiKey: string;

function mooring(args: string[]): Promise<Run> {
  return runCli([...serverArgs(t.platform.httpPort, caFile, apiKey), ...args], {
    configDir: join(work, 'config'),
  });
}

before(async () => {
  t = await startTestPlatform({ MOORING_LIMIT_REST_REQUESTS_PER_KEY: '40' });
  const tenant = await t.tenant();
  apiKey = tenant.apiKey;
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-limits-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

const row = (items: { limit: string }[], limit: string) => items.find((i) => i.limit === limit) as any;

test('limits show, set, clear, per tenant and per device, and events', async () => {
  const shown = await mooring(['limits', 'show']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /rest\.requests_per_key\s+api-key\s+requests\s+10 s\s+40\s+-\s+40\s+device/);

  const set = await mooring(['limits', 'set', 'rest.requests_per_key', '30', '--json']);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(row(set.json, 'rest.requests_per_key').effective, 30);

  const { deviceId } = await t.device(apiKey);
  const dev = await mooring([
    'limits',
    'set',
    'mqtt.messages_per_device',
    '7',
    '--device',
    deviceId,
    '--json',
  ]);
  assert.equal(dev.code, 0, dev.stderr);
  assert.deepEqual(
    (({ deviceOverride, effective }) => ({ deviceOverride, effective }))(
      row(dev.json, 'mqtt.messages_per_device'),
    ),
    { deviceOverride: 7, effective: 7 },
  );
  const devShown = await mooring(['limits', 'show', '--device', deviceId]);
  assert.equal(devShown.code, 0, devShown.stderr);
  assert.match(devShown.stdout, /mqtt\.messages_per_device\s+device\s+messages\s+1 s\s+100\s+-\s+7\s+7/);

  const tooHigh = await mooring(['limits', 'set', 'rest.requests_per_key', '41', '--json']);
  assert.notEqual(tooHigh.code, 0);
  assert.equal(tooHigh.json.error.code, 'VALIDATION_FAILED');
  assert.equal(tooHigh.json.error.errors[0].path, '/items/0/value');
  const notNumber = await mooring(['limits', 'set', 'rest.requests_per_key', 'lots']);
  assert.equal(notNumber.code, 2, 'a usage error, nothing sent');

  const cleared = await mooring(['limits', 'clear', 'rest.requests_per_key', '--json']);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.equal(row(cleared.json, 'rest.requests_per_key').tenantOverride, null);

  // The device's credential held to 1 request per 10 s by its own override: its second is refused
  // and becomes a limit event of the device.
  const d2 = await t.device(apiKey);
  const one = await mooring(['limits', 'set', 'rest.requests_per_key', '1', '--device', d2.deviceId]);
  assert.equal(one.code, 0, one.stderr);
  for (let i = 0; i < 2; i++) await t.call('GET', '/v1/device/commands', { token: d2.accessKey });
  let events: Run | undefined;
  for (let i = 0; i < 50; i++) {
    events = await mooring(['limits', 'events', '--device', d2.deviceId, '--json']);
    if (events.code === 0 && events.json.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(events!.code, 0, events!.stderr);
  assert.deepEqual(
    events!.json.map((e: any) => [e.limit, e.subject, e.deviceId, e.configured, e.observed]),
    [['rest.requests_per_key', `device:${d2.deviceId}`, d2.deviceId, 1, 2]],
  );
  const table = await mooring(['limits', 'events']);
  assert.match(table.stdout, /rest\.requests_per_key\s+device:dev_/);
});
