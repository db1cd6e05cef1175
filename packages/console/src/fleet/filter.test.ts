import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CERTIFICATE_CHOICES,
  DEFAULT_PAGE_SIZE,
  LAST_SEEN_CHOICES,
  SORT_CHOICES,
  describeFilter,
  filterOfView,
  searchOfView,
  viewFromSearch,
} from './filter.js';

test('a view survives the address: every filter member and the page size', () => {
  const view = {
    filter: {
      status: 'disabled' as const,
      connected: false,
      tag: 'site:a',
      hardwareClass: 'gw-v2',
      firmwareVersion: '1.2.0+build.7',
      belowVersion: '2.0.0-rc.1',
      belowMinimum: true,
    },
    limit: 20,
  };
  const search = searchOfView(view);
  assert.equal(
    search,
    '?status=disabled&connected=false&tag=site%3Aa&hardwareClass=gw-v2&firmwareVersion=1.2.0%2Bbuild.7&belowVersion=2.0.0-rc.1&belowMinimum=true&limit=20',
  );
  assert.deepEqual(viewFromSearch(search), view);
  assert.equal(searchOfView({ filter: {}, limit: DEFAULT_PAGE_SIZE }), '');
  assert.deepEqual(viewFromSearch(''), { filter: {}, limit: DEFAULT_PAGE_SIZE });
});

test('what no filter takes is left out, not guessed at; the server judges the rest', () => {
  assert.deepEqual(viewFromSearch('?status=maybe&connected=yes&belowMinimum=1&tag=%20&limit=7&cursor=x'), {
    filter: {},
    limit: DEFAULT_PAGE_SIZE,
  });
  // Not a version, but a filter the server refuses in words the console shows.
  assert.deepEqual(viewFromSearch('?firmwareVersion=1.2').filter, { firmwareVersion: '1.2' });
});

test('a filter is said in words before a bulk change applies to it', () => {
  assert.deepEqual(describeFilter({}), []);
  assert.deepEqual(describeFilter({ status: 'enabled', connected: true, tag: 'x', belowMinimum: false }), [
    'enabled',
    'online',
    'tagged x',
    'not below the minimum version',
  ]);
});

test('last seen and certificate expiry stay choices in the address, and become instants only when read', () => {
  const view = viewFromSearch('?tag=x&lastSeen=over-24h&certificateExpires=30d');
  assert.deepEqual(view, {
    filter: { tag: 'x' },
    lastSeen: 'over-24h',
    certificateExpires: '30d',
    limit: DEFAULT_PAGE_SIZE,
  });
  // The address does not move with the clock.
  assert.equal(searchOfView(view), '?tag=x&lastSeen=over-24h&certificateExpires=30d');
  const now = 1_750_000_000_000;
  assert.deepEqual(filterOfView(view, now), {
    tag: 'x',
    lastSeenBefore: String(now - 86_400_000),
    certificateExpiresBefore: String(now + 30 * 86_400_000),
  });
  assert.deepEqual(filterOfView(viewFromSearch('?lastSeen=within-1h'), now), {
    lastSeenAfter: String(now - 3_600_000),
  });
  assert.deepEqual(filterOfView(viewFromSearch('?lastSeen=over-7d'), now), {
    lastSeenBefore: String(now - 7 * 86_400_000),
  });
  assert.deepEqual(filterOfView(viewFromSearch('?lastSeen=never&certificateExpires=7d'), now), {
    neverSeen: true,
    certificateExpiresBefore: String(now + 7 * 86_400_000),
  });
  // Every choice the form offers survives the address.
  for (const lastSeen of Object.keys(LAST_SEEN_CHOICES) as (keyof typeof LAST_SEEN_CHOICES)[])
    for (const certificateExpires of Object.keys(
      CERTIFICATE_CHOICES,
    ) as (keyof typeof CERTIFICATE_CHOICES)[]) {
      const v = { filter: {}, lastSeen, certificateExpires, limit: 20 };
      assert.deepEqual(viewFromSearch(searchOfView(v)), v);
    }
  // A timestamp, an unknown span or a prototype member is not a choice.
  assert.deepEqual(
    viewFromSearch(
      '?lastSeen=over-3h&certificateExpires=toString&lastSeenBefore=1&certificateExpiresBefore=2&neverSeen=true',
    ),
    { filter: {}, limit: DEFAULT_PAGE_SIZE },
  );
  assert.deepEqual(filterOfView({ filter: { status: 'enabled' }, limit: 20 }, now), { status: 'enabled' });
});

test('the instants of a filter are said in words', () => {
  const at = 1_750_000_000_000;
  const local = new Date(at).toLocaleString();
  assert.deepEqual(
    describeFilter({ lastSeenBefore: String(at), certificateExpiresBefore: String(at), neverSeen: false }),
    [
      `not seen since ${local} (or never)`,
      'seen at least once',
      `with a certificate expiring before ${local}`,
    ],
  );
  assert.deepEqual(describeFilter({ lastSeenAfter: String(at), neverSeen: true }), [
    `seen since ${local}`,
    'never seen',
  ]);
});

test('the order survives the address beside the filters; creation order is no sort; an unknown one is left out', () => {
  const view = viewFromSearch('?tag=x&sort=name&limit=20');
  assert.deepEqual(view, { filter: { tag: 'x' }, sort: 'name', limit: 20 });
  assert.equal(searchOfView(view), '?tag=x&sort=name&limit=20');
  // The order is not a filter: a bulk change's filter has none.
  assert.deepEqual(filterOfView(view, 0), { tag: 'x' });
  for (const sort of Object.keys(SORT_CHOICES) as (keyof typeof SORT_CHOICES)[]) {
    const v = viewFromSearch(`?sort=${encodeURIComponent(sort)}`);
    if (sort === 'id') {
      assert.deepEqual(v, { filter: {}, limit: DEFAULT_PAGE_SIZE });
      continue;
    }
    assert.equal(v.sort, sort);
    assert.equal(searchOfView(v), `?sort=${encodeURIComponent(sort)}`);
    assert.deepEqual(viewFromSearch(searchOfView(v)), v);
  }
  for (const bad of ['Name', 'lastseen', '-name', 'toString', '__proto__', ''])
    assert.deepEqual(viewFromSearch(`?sort=${encodeURIComponent(bad)}`), {
      filter: {},
      limit: DEFAULT_PAGE_SIZE,
    });
});
