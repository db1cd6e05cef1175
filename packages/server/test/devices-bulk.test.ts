/**
 * Bulk operations on a filter (POST /v1/devices/bulk): the dry run counts what the list shows with
 * the same filter, the operation changes exactly the devices that need it and nothing of another
 * tenant, a count that moved since the dry run refuses it, disabling drops live sessions, one audit
 * record per operation, and what an attacker sends (a scoped key, bad tags, text the store cannot
 * hold, huge bodies) is refused with a named code and changes nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { closed, startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

const bulk = (apiKey: string, body: unknown) => t.call('POST', '/v1/devices/bulk', { token: apiKey, body });

async function listed(apiKey: string, query = ''): Promise<{ id: string; tags: string[]; status: string }[]> {
  const r = await t.call('GET', `/v1/devices?limit=500&${query}`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body.items;
}

/** A tenant with six devices: three tagged line-a (one of them also spare), three line-b. */
async function fleet() {
  const { apiKey, tenantId } = await t.tenant();
  const ids: Record<string, string> = {};
  for (const [name, tags] of [
    ['a1', ['line-a']],
    ['a2', ['line-a', 'spare']],
    ['a3', ['line-a']],
    ['b1', ['line-b']],
    ['b2', ['line-b']],
    ['b3', ['line-b', 'spare']],
  ] as const)
    ids[name] = (await t.device(apiKey, { name, tags: [...tags] })).deviceId;
  return { apiKey, tenantId, ids };
}

test('the dry run counts what the list shows; the operation changes only the devices that need it', async () => {
  const { apiKey, ids } = await fleet();
  const other = await fleet();
  for (const filter of [{}, { tag: 'line-a' }, { tag: 'spare' }, { tag: 'none' }, { status: 'enabled' }])
    for (const action of [{ type: 'addTags', tags: ['spare'] }, { type: 'disable' }]) {
      const r = await bulk(apiKey, { filter, action, dryRun: true });
      assert.equal(r.status, 200, r.text);
      const query = new URLSearchParams(filter as Record<string, string>).toString();
      assert.equal(r.body.matched, (await listed(apiKey, query)).length, `matched for ${query}`);
      assert.equal(r.body.changed, 0);
    }
  const dry = await bulk(apiKey, {
    filter: { tag: 'line-a' },
    action: { type: 'addTags', tags: ['spare', 'eu'] },
    dryRun: true,
  });
  assert.deepEqual(dry.body, { dryRun: true, matched: 3, wouldChange: 3, changed: 0 });
  assert.equal((await listed(apiKey, 'tag=eu')).length, 0, 'a dry run changed something');

  const done = await bulk(apiKey, {
    filter: { tag: 'line-a' },
    action: { type: 'addTags', tags: ['spare', 'eu'] },
    expectMatched: 3,
  });
  assert.equal(done.status, 200, done.text);
  assert.deepEqual(done.body, { dryRun: false, matched: 3, wouldChange: 3, changed: 3 });
  const after = Object.fromEntries((await listed(apiKey)).map((d) => [d.id, d.tags]));
  assert.deepEqual(after[ids.a1!], ['line-a', 'spare', 'eu'], 'new tags after the old ones, in order');
  assert.deepEqual(after[ids.a2!], ['line-a', 'spare', 'eu'], 'a tag it had is not added twice');
  assert.deepEqual(after[ids.b3!], ['line-b', 'spare'], 'a device outside the filter is untouched');
  // Again: nothing left to change.
  const again = await bulk(apiKey, { filter: { tag: 'line-a' }, action: { type: 'addTags', tags: ['eu'] } });
  assert.deepEqual(again.body, { dryRun: false, matched: 3, wouldChange: 0, changed: 0 });

  const removed = await bulk(apiKey, { filter: {}, action: { type: 'removeTags', tags: ['spare', 'nope'] } });
  assert.deepEqual(removed.body, { dryRun: false, matched: 6, wouldChange: 4, changed: 4 });
  assert.deepEqual((await listed(apiKey, 'tag=spare')).length, 0);
  assert.deepEqual(Object.fromEntries((await listed(apiKey)).map((d) => [d.id, d.tags]))[ids.a2!], [
    'line-a',
    'eu',
  ]);
  // The other tenant's devices, with the same tags, saw nothing of it.
  assert.equal((await listed(other.apiKey, 'tag=spare')).length, 2);
  assert.equal((await listed(other.apiKey, 'tag=eu')).length, 0);
});

test('a count that moved since the dry run refuses the operation, and nothing is done', async () => {
  const { apiKey } = await fleet();
  const dry = await bulk(apiKey, { filter: { tag: 'line-b' }, action: { type: 'disable' }, dryRun: true });
  assert.equal(dry.body.matched, 3);
  await t.device(apiKey, { name: 'b4', tags: ['line-b'] });
  const r = await bulk(apiKey, { filter: { tag: 'line-b' }, action: { type: 'disable' }, expectMatched: 3 });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.body.code, 'BULK_MATCH_CHANGED');
  assert.equal(r.body.matched, 4);
  assert.equal((await listed(apiKey, 'status=disabled')).length, 0);
});

test('disabling in bulk drops the live sessions of the disabled devices; enabling lets them back', async () => {
  const { apiKey } = await t.tenant();
  const on = await t.device(apiKey, { name: 'on', tags: ['cut'] });
  const keep = await t.device(apiKey, { name: 'keep' });
  const cut = await t.connectDevice(on.deviceId, on.accessKey);
  const kept = await t.connectDevice(keep.deviceId, keep.accessKey);
  try {
    const gone = closed(cut);
    const r = await bulk(apiKey, { filter: { tag: 'cut' }, action: { type: 'disable' } });
    assert.deepEqual(r.body, { dryRun: false, matched: 1, wouldChange: 1, changed: 1 });
    await gone;
    assert.ok(kept.connected, 'a device outside the filter lost its session');
    await assert.rejects(t.connectDevice(on.deviceId, on.accessKey), 'a disabled device connected');
    const back = await bulk(apiKey, { filter: { status: 'disabled' }, action: { type: 'enable' } });
    assert.equal(back.body.changed, 1);
    (await t.connectDevice(on.deviceId, on.accessKey)).end(true);
  } finally {
    cut.end(true);
    kept.end(true);
  }
});

test('one audit record per operation on three devices, naming its filter and action; a dry run is recorded as one', async () => {
  const { apiKey } = await fleet();
  await bulk(apiKey, { filter: { tag: 'line-a' }, action: { type: 'addTags', tags: ['x'] }, dryRun: true });
  const r = await bulk(apiKey, { filter: { tag: 'line-a' }, action: { type: 'addTags', tags: ['x'] } });
  assert.equal(r.status, 200);
  const audit = await t.call('GET', `/v1/audit?action=${encodeURIComponent('POST /v1/devices/bulk')}`, {
    token: apiKey,
  });
  assert.equal(audit.status, 200, audit.text);
  const records = audit.body.items as { outcome: string; changes: { request: Record<string, unknown> } }[];
  const applied = records.filter((x) => x.changes.request.dryRun !== true);
  assert.equal(applied.length, 1, 'one record for the operation on three devices');
  assert.equal(records.length, 2, 'the dry run has its record too');
  assert.ok(records.every((x) => x.outcome === 'success'));
  assert.deepEqual(applied[0]!.changes.request.filter, { tag: 'line-a' });
  assert.deepEqual(applied[0]!.changes.request.action, { type: 'addTags', tags: ['x'] });
});

test('a key scoped to a tag, a reader, bad tags, text the store cannot hold and huge bodies are refused, and nothing changes', async () => {
  const { apiKey } = await fleet();
  const before = JSON.stringify(await listed(apiKey));
  const key = async (grants: unknown[]) => {
    const r = await t.call('POST', '/v1/api-keys', { token: apiKey, body: { name: 'k', grants } });
    assert.equal(r.status, 201, r.text);
    return r.body.secret as string;
  };
  const scoped = await key([{ role: 'operator', scope: { tag: 'line-a' } }]);
  const reader = await key([{ role: 'viewer' }]);
  const action = { type: 'disable' };
  assert.equal(
    (await bulk(scoped, { filter: { tag: 'line-a' }, action })).status,
    403,
    'a scoped grant acted on the fleet',
  );
  assert.equal((await bulk(reader, { filter: {}, action, dryRun: true })).status, 403);
  assert.equal((await t.call('POST', '/v1/devices/bulk', { body: { filter: {}, action } })).status, 401);
  for (const [body, code] of [
    [{ filter: {}, action: { type: 'addTags', tags: [] } }, 'VALIDATION_FAILED'],
    [{ filter: {}, action: { type: 'addTags', tags: ['a b'] } }, 'VALIDATION_FAILED'],
    [{ filter: {}, action: { type: 'addTags', tags: ['nul\u0000'] } }, 'INVALID_TEXT'],
    [{ filter: {}, action: { type: 'addTags', tags: ['\ud800'] } }, 'INVALID_TEXT'],
    [{ filter: { tag: '\ud800' }, action }, 'INVALID_TEXT'],
    [{ filter: {}, action: { type: 'delete' } }, 'VALIDATION_FAILED'],
    [{ filter: { cursor: 'x' }, action }, 'VALIDATION_FAILED'],
    [{ filter: { belowVersion: 'one' }, action }, 'VALIDATION_FAILED'],
    [{ filter: {}, action, expectMatched: -1 }, 'VALIDATION_FAILED'],
    [
      { filter: {}, action: { type: 'addTags', tags: Array.from({ length: 33 }, (_, i) => `t${i}`) } },
      'VALIDATION_FAILED',
    ],
    [{ action }, 'VALIDATION_FAILED'],
  ] as const) {
    const r = await bulk(apiKey, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.code, code, JSON.stringify(body));
  }
  // 30 tags added to devices with one or two: a device would have 32 or more than 32.
  const many = Array.from({ length: 31 }, (_, i) => `m${i}`);
  const tooMany = await bulk(apiKey, { filter: {}, action: { type: 'addTags', tags: many } });
  assert.equal(tooMany.status, 400, tooMany.text);
  assert.match(tooMany.body.detail, /would have more than 32 tags/);
  // A tag a device has already counts once: 30 new tags and spare bring every device to 32 at most.
  const fits = await bulk(apiKey, {
    filter: {},
    action: { type: 'addTags', tags: [...many.slice(1), 'spare'] },
    dryRun: true,
  });
  assert.deepEqual(fits.body, { dryRun: true, matched: 6, wouldChange: 6, changed: 0 }, fits.text);
  const deep = '{"filter":'.repeat(100_000) + '{}' + '}'.repeat(100_000);
  const nested = await t.call('POST', '/v1/devices/bulk', { token: apiKey, raw: deep });
  assert.ok([400, 413].includes(nested.status), nested.text);
  const huge = await bulk(apiKey, { filter: {}, action: { type: 'addTags', tags: ['x'.repeat(5_000_000)] } });
  assert.ok([400, 413].includes(huge.status), huge.text);
  assert.equal(JSON.stringify(await listed(apiKey)), before, 'a refused request changed devices');
});
