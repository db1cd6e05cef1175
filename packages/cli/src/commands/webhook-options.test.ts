/** The bodies `webhooks create|update` send and the times of `replay --from --to` (no server). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLATFORM_EVENT_TYPES } from '@mooring/protocol';
import { UsageError } from '../context.js';
import { createBody, epochMs, eventTypes, updateBody } from './webhook-options.js';

const dir = mkdtempSync(join(tmpdir(), 'mooring-webhook-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

test('create: events, tags, the CA, and secrets read from files (their first line)', async () => {
  const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----\n');
  assert.deepEqual(
    await createBody({
      name: 'ops',
      url: 'https://hooks.example/in',
      event: ['alert.fired,alert.resolved', 'alert.fired'],
      tag: ['plant'],
      caFile: ca,
      basicUser: 'mooring',
      basicPasswordFile: file('pw', 's3cret \nignored\n'),
    }),
    {
      name: 'ops',
      url: 'https://hooks.example/in',
      eventTypes: ['alert.fired', 'alert.resolved'],
      deviceTags: ['plant'],
      auth: { type: 'basic', username: 'mooring', password: 's3cret' },
      caPem: '-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----\n',
    },
  );
  assert.deepEqual(
    (
      await createBody({
        name: 'ops',
        url: 'https://hooks.example/in',
        allEvents: true,
        oauthTokenUrl: 'https://idp.example/token',
        oauthClientId: 'mooring',
        oauthClientSecretFile: file('cs', 'client-secret\n'),
        oauthScope: 'events',
      })
    ).auth,
    {
      type: 'oauth2',
      tokenUrl: 'https://idp.example/token',
      clientId: 'mooring',
      clientSecret: 'client-secret',
      scope: 'events',
    },
  );
  assert.deepEqual(eventTypes({ allEvents: true }), [...PLATFORM_EVENT_TYPES]);
});

test('create and update: what cannot be sent is refused first', async () => {
  const refused = async (p: Promise<unknown>, message: RegExp) =>
    assert.rejects(p, (e: Error) => e instanceof UsageError && message.test(e.message));
  const base = { name: 'x', url: 'https://h.example/' };
  await refused(createBody({ url: 'https://h.example/' }), /--name and --url/);
  await refused(createBody(base), /--event/);
  await refused(createBody({ ...base, event: ['alert.sent'] }), /not an event type: alert\.sent/);
  await refused(createBody({ ...base, event: ['alert.fired'], basicUser: 'u' }), /--basic-password-file/);
  await refused(
    createBody({ ...base, event: ['alert.fired'], oauthTokenUrl: 'https://i/', oauthClientId: 'c' }),
    /--oauth-client-secret-file/,
  );
  await refused(
    createBody({ ...base, event: ['alert.fired'], basicUser: 'u', oauthClientId: 'c' }),
    /one of --basic-…, --oauth-… or --without-auth/,
  );
  await refused(createBody({ ...base, event: ['alert.fired'], caFile: file('x.pem', 'nope') }), /not a PEM/);
  await refused(createBody({ ...base, event: ['alert.fired'], caFile: join(dir, 'missing') }), /cannot read/);
  await refused(
    createBody({ ...base, event: ['alert.fired'], basicUser: 'u', basicPasswordFile: file('e', '\n') }),
    /the file is empty/,
  );
  await refused(updateBody({}), /nothing to change/);
  await refused(updateBody({ enable: true, disable: true }), /--enable or --disable/);
});

test('update: only what a flag names', async () => {
  assert.deepEqual(await updateBody({ disable: true }), { enabled: false });
  assert.deepEqual(await updateBody({ enable: true, name: 'n' }), { name: 'n', enabled: true });
  assert.deepEqual(await updateBody({ everyDevice: true, removeCa: true, withoutAuth: true }), {
    deviceTags: [],
    auth: { type: 'none' },
    caPem: null,
  });
  assert.deepEqual(await updateBody({ event: ['device.connected'], tag: ['a', 'b'] }), {
    eventTypes: ['device.connected'],
    deviceTags: ['a', 'b'],
  });
});

test('replay times: epoch ms, RFC 3339, or a duration ago', () => {
  const now = Date.UTC(2026, 11, 7, 12, 0, 0);
  assert.equal(epochMs('--from', '1796652000000', now), 1796652000000);
  assert.equal(epochMs('--from', '2026-12-07T11:00:00Z', now), now - 3_600_000);
  assert.equal(epochMs('--from', '2h', now), now - 7_200_000);
  assert.equal(epochMs('--from', '7d', now), now - 7 * 86_400_000);
  assert.throws(() => epochMs('--from', 'yesterday', now), /--from 'yesterday' is not a time/);
  assert.throws(() => epochMs('--to', '2026-13-45', now), /--to '2026-13-45' is not a time/);
});
