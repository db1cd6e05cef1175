import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, checkConfigLimits, desiredAction, diffMergePatch } from './config.js';

test('applyMergePatch follows the examples of RFC 7396 appendix A', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of cases) {
    const before = JSON.stringify(target);
    assert.deepEqual(applyMergePatch(target, patch), result, `${before} + ${JSON.stringify(patch)}`);
    assert.equal(JSON.stringify(target), before, 'the target is not changed');
  }
});

test('diffMergePatch gives the patch that turns one document into the other', () => {
  const pairs: [Record<string, unknown>, Record<string, unknown>][] = [
    [{}, {}],
    [{}, { a: 1, b: { c: [1, { d: 2 }] } }],
    [{ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } }],
    [{ a: [1, 2] }, { a: [1, 2] }],
    [{ a: [1, 2] }, { a: [2, 1] }],
    [{ a: { b: 1 } }, { a: 5 }],
    [{ a: 5 }, { a: { b: {} } }],
    [{ a: { x: { y: 1 } } }, { a: { x: { y: 1, z: false } }, n: 'n' }],
  ];
  for (const [from, to] of pairs) {
    const patch = diffMergePatch(from, to);
    assert.deepEqual(applyMergePatch(from, patch), to, `${JSON.stringify(from)} → ${JSON.stringify(to)}`);
  }
  assert.deepEqual(diffMergePatch({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 2 } }), {});
  assert.deepEqual(diffMergePatch({ a: 1, b: { c: 2, d: 1 } }, { b: { c: 3, d: 1 } }), {
    a: null,
    b: { c: 3 },
  });
});

test('checkConfigLimits names the limit, its value, the actual figure and where', () => {
  assert.equal(checkConfigLimits({ a: 1 }), undefined);
  assert.equal(checkConfigLimits({ s: 'x'.repeat(40_000) })?.limit, 'documentBytes');
  assert.equal(checkConfigLimits({ s: 'x'.repeat(40_000) }, 'patch'), undefined);
  let deep: unknown = 1;
  for (let i = 0; i < 10; i++) deep = { k: deep };
  assert.equal(checkConfigLimits(deep), undefined, '10 levels are allowed');
  const breach = checkConfigLimits({ k: deep });
  assert.equal(breach?.limit, 'depth');
  assert.equal(breach?.actual, 11);
  assert.equal(breach?.path, '/k/k/k/k/k/k/k/k/k/k');
  const key = checkConfigLimits({ a: { ['é'.repeat(129)]: 1 } });
  assert.deepEqual([key?.limit, key?.max, key?.actual], ['keyLength', 128, 129]);
  assert.equal(checkConfigLimits({ arr: [[[[[[[[[[[1]]]]]]]]]]] })?.limit, 'depth', 'arrays count as levels');
});

test('desiredAction: apply from its own version or the empty one, ignore what it holds, acknowledge again when behind it, ask when a version is missing', () => {
  assert.equal(desiredAction(0, { version: 3, baseVersion: 0 }), 'apply');
  assert.equal(desiredAction(2, { version: 3, baseVersion: 2 }), 'apply');
  assert.equal(desiredAction(5, { version: 6, baseVersion: 0 }), 'apply');
  assert.equal(desiredAction(3, { version: 3, baseVersion: 2 }), 'ignore');
  assert.equal(desiredAction(4, { version: 3, baseVersion: 0 }), 'ignore');
  assert.equal(
    desiredAction(3, { version: 5, baseVersion: 2 }),
    'acknowledge',
    'the platform has not recorded its acknowledgement of 3',
  );
  assert.equal(desiredAction(1, { version: 5, baseVersion: 3 }), 'resync');
});
