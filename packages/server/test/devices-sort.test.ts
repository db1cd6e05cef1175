/**
 * The device list's sorts (GET /v1/devices?sort=): each order paged one, two and four devices at a
 * time over ties (same name, same last seen, never seen, same version, never reported) gives every
 * device exactly once, in the documented order; filters and a scoped key's reach combine with a
 * sort; a cursor pages on only with the sort it was made for (else 400 INVALID_CURSOR); an unknown
 * sort is a 400 problem; another tenant's devices never appear.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersionKeys, parseSemver, type VersionKey } from '@mooring/protocol';
import { startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

interface Listed {
  id: string;
  name: string;
  tags: string[];
  firmware: { version: string } | null;
  presence: { lastSeenAt: number | null };
}

/** Every page of the list, `limit` at a time, following nextCursor; the ids in the order given. */
async function pages(apiKey: string, query: string, limit = 2): Promise<Listed[]> {
  const all: Listed[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const c: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const r = await t.call('GET', `/v1/devices?limit=${limit}&${query}${c}`, { token: apiKey });
    assert.equal(r.status, 200, `${query}: ${r.text}`);
    assert.ok(r.body.items.length <= limit);
    all.push(...(r.body.items as Listed[]));
    cursor = r.body.nextCursor as string | null;
    if (!cursor) return all;
  }
  throw new Error('the list did not end');
}

async function seenAt(deviceId: string, at: number | null) {
  await t.platform.db.query('UPDATE devices SET last_seen_at = $2 WHERE id = $1', [deviceId, at]);
}
/** Records a firmware report as the fleet store does: the version and its sort key. */
async function runs(deviceId: string, version: string) {
  const parsed = parseSemver(version);
  assert.ok(parsed.ok);
  const { major, minor, patch, pre } = parsed.key;
  await t.platform.db.query(
    `UPDATE devices SET firmware_version = $2, hardware_class = 'board-a', firmware_reported_at = $3,
       fw_major = $4, fw_minor = $5, fw_patch = $6, fw_pre = $7 WHERE id = $1`,
    [deviceId, version, Date.now(), major, minor, patch, pre],
  );
}

const byId = (a: Listed, b: Listed) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
const keyOf = (d: Listed): VersionKey | undefined => {
  if (!d.firmware) return undefined;
  const p = parseSemver(d.firmware.version);
  return p.ok ? p.key : undefined;
};
/** The documented orders, computed here from what the list returns. */
const ORDERS: Record<string, (a: Listed, b: Listed) => number> = {
  id: byId,
  name: (a, b) => cmp(a.name, b.name) || byId(a, b),
  lastSeen: (a, b) => cmp(a.presence.lastSeenAt ?? -1, b.presence.lastSeenAt ?? -1) || byId(a, b),
  '-lastSeen': (a, b) => cmp(b.presence.lastSeenAt ?? -1, a.presence.lastSeenAt ?? -1) || byId(b, a),
  firmwareVersion: (a, b) => {
    const ka = keyOf(a);
    const kb = keyOf(b);
    if (!ka || !kb) return (ka ? 0 : 1) - (kb ? 0 : 1) || byId(a, b);
    return compareVersionKeys(ka, kb) || byId(a, b);
  },
};

test('every sort pages through ties and never-seen devices with none repeated or skipped, in its documented order', async () => {
  const { apiKey } = await t.tenant();
  const other = await t.tenant();
  const now = Date.now();
  const spec: [string, number | null, string | null][] = [
    ['beta', now - 1000, '1.10.0'],
    ['alpha', now - 1000, '1.2.0'],
    ['beta', null, null],
    ['gamma', now - 5000, '1.10.0'],
    ['alpha', null, '1.10.0-rc.1'],
    ['beta', now, '1.10.0-rc.2'],
    ['delta', now - 1000, null],
    ['alpha', null, '2.0.0'],
    ['epsilon', now - 5000, '1.2.0'],
  ];
  const mine: string[] = [];
  for (const [name, seen, version] of spec) {
    const id = (await t.device(apiKey, { name, tags: mine.length % 2 ? ['odd'] : [] })).deviceId;
    mine.push(id);
    await seenAt(id, seen);
    if (version) await runs(id, version);
  }
  // Another tenant's devices, with the same names, times and versions, sort among none of these.
  for (const [name, seen, version] of spec.slice(0, 4)) {
    const id = (await t.device(other.apiKey, { name })).deviceId;
    await seenAt(id, seen);
    if (version) await runs(id, version);
  }

  for (const [sort, compare] of Object.entries(ORDERS)) {
    for (const limit of [1, 2, 4]) {
      const listed = await pages(apiKey, sort === 'id' ? '' : `sort=${sort}`, limit);
      const ids = listed.map((d) => d.id);
      assert.equal(new Set(ids).size, ids.length, `${sort}/${limit}: a device repeated`);
      assert.deepEqual([...ids].sort(), [...mine].sort(), `${sort}/${limit}: not exactly this tenant's`);
      assert.deepEqual(
        ids,
        [...listed].sort(compare).map((d) => d.id),
        `${sort}/${limit}: out of order`,
      );
    }
  }
  // The orders' edges, spelled out: never seen first / last, never reported last.
  const seen = await pages(apiKey, 'sort=lastSeen', 3);
  assert.deepEqual(
    seen.slice(0, 3).map((d) => d.presence.lastSeenAt),
    [null, null, null],
  );
  const newest = await pages(apiKey, 'sort=-lastSeen', 3);
  assert.equal(newest[0]?.presence.lastSeenAt, now);
  assert.deepEqual(
    newest.slice(-3).map((d) => d.presence.lastSeenAt),
    [null, null, null],
  );
  const versions = (await pages(apiKey, 'sort=firmwareVersion', 3)).map((d) => d.firmware?.version ?? null);
  assert.deepEqual(versions, [
    '1.2.0',
    '1.2.0',
    '1.10.0-rc.1',
    '1.10.0-rc.2',
    '1.10.0',
    '1.10.0',
    '2.0.0',
    null,
    null,
  ]);
  const names = (await pages(apiKey, 'sort=name', 2)).map((d) => d.name);
  assert.deepEqual(names, ['alpha', 'alpha', 'alpha', 'beta', 'beta', 'beta', 'delta', 'epsilon', 'gamma']);

  // A filter combines with a sort: the odd-tagged devices, by name, paged one at a time.
  const odd = await pages(apiKey, 'tag=odd&sort=name', 1);
  assert.deepEqual(
    odd.map((d) => d.id),
    mine
      .map((id, i) => ({ id, name: spec[i]![0], i }))
      .filter((d) => d.i % 2 === 1)
      .sort((a, b) => cmp(a.name, b.name) || cmp(a.id, b.id))
      .map((d) => d.id),
  );
  // The last-seen filters bound the last-seen orders' index range: the same devices, in order.
  const every = await pages(apiKey, '', 20);
  const seenBefore = (d: Listed) => (d.presence.lastSeenAt ?? -Infinity) < now - 500;
  for (const [query, keep] of [
    [`lastSeenBefore=${now - 500}`, seenBefore],
    [
      `lastSeenBefore=${now - 500}&neverSeen=false`,
      (d: Listed) => seenBefore(d) && d.presence.lastSeenAt !== null,
    ],
    [`lastSeenAfter=${now - 2000}`, (d: Listed) => (d.presence.lastSeenAt ?? -Infinity) >= now - 2000],
    ['neverSeen=true', (d: Listed) => d.presence.lastSeenAt === null],
  ] as const) {
    for (const sort of ['lastSeen', '-lastSeen']) {
      const listed = (await pages(apiKey, `${query}&sort=${sort}`, 2)).map((d) => d.id);
      const expected = every.filter(keep).sort(ORDERS[sort]!);
      assert.ok(expected.length > 0);
      assert.deepEqual(
        listed,
        expected.map((d) => d.id),
        `${query}&sort=${sort}`,
      );
    }
  }
  // A key scoped to the odd-tagged devices pages through those only, in order.
  const scoped = await t.call('POST', '/v1/api-keys', {
    token: apiKey,
    body: { name: 'scoped', grants: [{ role: 'viewer', scope: { tag: 'odd' } }] },
  });
  assert.equal(scoped.status, 201, scoped.text);
  for (const sort of ['name', '-lastSeen', 'firmwareVersion']) {
    const listed = (await pages(scoped.body.secret, `sort=${sort}`, 1)).map((d) => d.id);
    assert.deepEqual(
      listed,
      odd.sort(ORDERS[sort]!).map((d) => d.id),
      `scoped, ${sort}`,
    );
  }
  // The other tenant sees its four devices only.
  assert.equal((await pages(other.apiKey, 'sort=firmwareVersion', 2)).length, 4);
});

test('a cursor pages on only with the sort it was made for; an unknown sort is a 400 problem', async () => {
  const { apiKey } = await t.tenant();
  for (const name of ['c', 'a', 'b']) await t.device(apiKey, { name });
  const first = (query: string) => t.call('GET', `/v1/devices?limit=1&${query}`, { token: apiKey });
  const cursors: Record<string, string> = {};
  for (const sort of Object.keys(ORDERS)) {
    const r = await first(`sort=${sort}`);
    assert.equal(r.status, 200);
    cursors[sort] = r.body.nextCursor as string;
  }
  // Without `sort` the list is in id order, and takes the id order's cursor.
  const plain = await first('');
  assert.equal((await first(`cursor=${encodeURIComponent(plain.body.nextCursor)}&sort=id`)).status, 200);
  for (const [made, cursor] of Object.entries(cursors)) {
    for (const used of Object.keys(ORDERS)) {
      const query = `cursor=${encodeURIComponent(cursor)}${used === 'id' ? '' : `&sort=${used}`}`;
      const r = await first(query);
      if (used === made) {
        assert.equal(r.status, 200, `${made} cursor with its own sort: ${r.text}`);
        continue;
      }
      assert.equal(r.status, 400, `${made} cursor with sort ${used}`);
      assert.match(String(r.headers['content-type']), /application\/problem\+json/);
      assert.equal(r.body.code, 'INVALID_CURSOR');
      assert.match(r.body.detail, new RegExp(`sorted by ${made.replace('-', '\\-')}, not by`));
    }
  }
  // Another tenant's cursor is a position only: it shows nothing of the tenant it came from.
  const other = await t.tenant();
  const foreign = await t.call('GET', `/v1/devices?sort=name&cursor=${encodeURIComponent(cursors.name!)}`, {
    token: other.apiKey,
  });
  assert.equal(foreign.status, 200);
  assert.deepEqual(foreign.body.items, []);

  for (const bad of ['lastseen', '-name', 'id,name', '']) {
    const r = await first(`sort=${encodeURIComponent(bad)}`);
    assert.equal(r.status, 400, `sort=${bad}: ${r.text}`);
    assert.match(String(r.headers['content-type']), /application\/problem\+json/);
    assert.equal(r.body.code, 'VALIDATION_FAILED');
  }
  // A bulk operation's filter has no order.
  const bulk = await t.call('POST', '/v1/devices/bulk', {
    token: apiKey,
    body: { filter: { sort: 'name' }, action: { type: 'disable' }, dryRun: true },
  });
  assert.equal(bulk.status, 400, bulk.text);
});
