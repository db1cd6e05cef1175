/** The merge patch `config set` sends and the If-Match header, from its options (no server). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../context.js';
import { buildPatch, ifMatchHeader, valueOf } from './config-patch.js';

test('--set values are JSON when they parse, else text', () => {
  assert.equal(valueOf('3'), 3);
  assert.equal(valueOf('"3"'), '3');
  assert.equal(valueOf('true'), true);
  assert.equal(valueOf('eco'), 'eco');
  assert.equal(valueOf('null'), null);
  assert.deepEqual(valueOf('[1,{"a":2}]'), [1, { a: 2 }]);
  assert.equal(valueOf(''), '');
});

test('--set and --unset build nested members on top of --patch or --file', () => {
  assert.deepEqual(buildPatch({ set: ['a.b=3', 'a.c=x', 'd=[1]'], unset: ['e.f'] }), {
    a: { b: 3, c: 'x' },
    d: [1],
    e: { f: null },
  });
  assert.deepEqual(buildPatch({ patch: '{"a":{"b":1},"k":true}', set: ['a.b=2', 'a.z=0'] }), {
    a: { b: 2, z: 0 },
    k: true,
  });
  assert.deepEqual(
    buildPatch({ file: 'p.json', unset: ['x'] }, () => '{"y":1}'),
    { y: 1, x: null },
  );
  assert.deepEqual(buildPatch({ set: ['url=http://h/?a=b'] }), { url: 'http://h/?a=b' });
});

test('what cannot be a patch is a usage error', () => {
  for (const o of [
    {},
    { patch: '{}', file: 'f' },
    { patch: '[]' },
    { patch: 'nope' },
    { set: ['=1'] },
    { set: ['a'] },
    { set: ['a.=1'] },
    { unset: ['.a'] },
    { set: ['a=1', 'a.b=2'] },
    { patch: '{"a":[1]}', set: ['a.b=2'] },
  ])
    assert.throws(() => buildPatch(o), UsageError, JSON.stringify(o));
});

test('--if-match takes a version, quoted or not, and sends it as an entity tag', () => {
  assert.deepEqual(ifMatchHeader(undefined), {});
  assert.deepEqual(ifMatchHeader('3'), { 'if-match': '"3"' });
  assert.deepEqual(ifMatchHeader('"12"'), { 'if-match': '"12"' });
  assert.throws(() => ifMatchHeader('v3'), UsageError);
  assert.throws(() => ifMatchHeader('-1'), UsageError);
});
