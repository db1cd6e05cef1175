import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delta } from './config-delta.js';

test('the delta is the desired members the reported document does not hold', () => {
  assert.deepEqual(delta({}, { a: 1 }), []);
  assert.deepEqual(delta({ b: 2, a: 1 }, {}), ['a', 'b'], 'absent, in key order');
  assert.deepEqual(delta({ a: 1, b: 'x' }, { a: 1, b: 'y' }), ['b']);
  assert.deepEqual(delta({ a: 1 }, { a: '1' }), ['a'], 'another type is another value');
  assert.deepEqual(delta({ a: null }, { a: null }), []);
  assert.deepEqual(
    delta({ o: { x: 1, y: [1, { z: 2 }] } }, { o: { y: [1, { z: 2 }], x: 1 } }),
    [],
    'member order',
  );
  assert.deepEqual(delta({ o: { x: 1 } }, { o: { x: 1, y: 2 } }), ['o']);
  assert.deepEqual(delta({ l: [1, 2] }, { l: [2, 1] }), ['l'], 'array order counts');
  // A member named like an Object.prototype property is not "reported" by every object.
  assert.deepEqual(delta({ toString: 1, constructor: 2 }, {}), ['constructor', 'toString']);
});
