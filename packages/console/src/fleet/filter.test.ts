import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PAGE_SIZE, describeFilter, searchOfView, viewFromSearch } from './filter.js';

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
