import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  JSON_LIMITS,
  checkValue,
  isCanonicalBase64url,
  parseStrictJson,
  textProblem,
  type WireRefusalCode,
} from './json.js';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/** An object of `n` members `"k0":0, "k1":1, …`. */
const wide = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`;

const refused: { desc: string; raw: string | Buffer; code: WireRefusalCode; path?: string }[] = [
  { desc: 'a NUL in a string', raw: '{"a":"x\\u0000y"}', code: 'INVALID_TEXT', path: '/a' },
  { desc: 'a NUL in a member name', raw: '{"a\\u0000":1}', code: 'INVALID_TEXT', path: '/a\u0000' },
  { desc: 'a lone high surrogate', raw: '{"a":["ok","\\ud800"]}', code: 'INVALID_TEXT', path: '/a/1' },
  { desc: 'a lone low surrogate', raw: '{"a/b":"\\udc00x"}', code: 'INVALID_TEXT', path: '/a~1b' },
  {
    desc: 'a lone surrogate in a member name',
    raw: '{"x":{"\\udfff":1}}',
    code: 'INVALID_TEXT',
    path: '/x/\udfff',
  },
  {
    desc: 'invalid UTF-8 bytes',
    raw: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
    code: 'INVALID_TEXT',
  },
  {
    desc: 'a surrogate encoded as UTF-8 bytes (CESU-8)',
    raw: Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    code: 'INVALID_TEXT',
  },
  {
    desc: 'a byte order mark',
    raw: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]),
    code: 'MALFORMED_JSON',
  },
  {
    desc: 'a raw lone surrogate in decoded text',
    raw: '{"a":"x\ud800"}',
    code: 'INVALID_TEXT',
    path: '/a',
  },
  { desc: 'a byte order mark in decoded text', raw: '\ufeff{"a":1}', code: 'MALFORMED_JSON' },
  { desc: 'a duplicate member name', raw: '{"a":1,"b":{"c":1,"c":2}}', code: 'MALFORMED_JSON' },
  { desc: 'a duplicate top-level member', raw: '{"name":"a","name":"b"}', code: 'MALFORMED_JSON' },
  { desc: 'the member name __proto__', raw: '{"__proto__":{"x":1}}', code: 'MALFORMED_JSON' },
  {
    desc: 'constructor.prototype',
    raw: '{"a":{"constructor":{"prototype":{"x":1}}}}',
    code: 'MALFORMED_JSON',
    path: '/a/constructor',
  },
  { desc: 'a number beyond a double', raw: '{"n":1e999}', code: 'NUMBER_OUT_OF_RANGE', path: '/n' },
  { desc: 'a negative number beyond a double', raw: '[-1e400]', code: 'NUMBER_OUT_OF_RANGE', path: '/0' },
  { desc: 'nesting 5,000 deep', raw: `{"a":${nested(5000)}}`, code: 'JSON_TOO_DEEP' },
  { desc: 'nesting one past the limit', raw: nested(JSON_LIMITS.maxDepth + 1), code: 'JSON_TOO_DEEP' },
  {
    desc: 'an object one member past the limit',
    raw: wide(JSON_LIMITS.maxMembers + 1),
    code: 'JSON_TOO_DEEP',
  },
  {
    desc: 'a nested object one member past the limit',
    raw: `{"a":[1,{"b":${wide(JSON_LIMITS.maxMembers + 1)}}]}`,
    code: 'JSON_TOO_DEEP',
  },
  { desc: '50,000 members in one object', raw: Buffer.from(wide(50_000)), code: 'JSON_TOO_DEEP' },
  { desc: 'a syntax error', raw: '{"a":', code: 'MALFORMED_JSON' },
  { desc: 'a raw NUL byte', raw: Buffer.from('{"a":"x\u0000"}'), code: 'MALFORMED_JSON' },
];

for (const c of refused) {
  test(`strict JSON refuses ${c.desc} with ${c.code}`, () => {
    const r = parseStrictJson(c.raw);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, c.code, r.error.message);
    if (c.path !== undefined) assert.equal(r.error.path, c.path);
  });
}

test('strict JSON accepts what the rule allows', () => {
  const accepted: [string, unknown][] = [
    [nested(JSON_LIMITS.maxDepth), JSON.parse(nested(JSON_LIMITS.maxDepth))],
    // The cap is per object: two objects at the limit each, and colons inside strings, do not add up.
    [
      `{"a":${wide(JSON_LIMITS.maxMembers)},"b":${wide(JSON_LIMITS.maxMembers - 2)}}`,
      JSON.parse(`{"a":${wide(JSON_LIMITS.maxMembers)},"b":${wide(JSON_LIMITS.maxMembers - 2)}}`),
    ],
    [
      `[${Array.from({ length: 3000 }, () => '{"x":"a:b:c"}').join(',')}]`,
      Array.from({ length: 3000 }, () => ({ x: 'a:b:c' })),
    ],
    ['{"a":"😀 é \\ud83d\\ude00","b:c":"x:y","q":"\\"{[:"}', { a: '😀 é 😀', 'b:c': 'x:y', q: '"{[:' }],
    ['{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', { a: { a: { a: 1 } }, b: [{ a: 1 }, { a: 2 }] }],
    ['{"n":1.7976931348623157e308,"m":-0,"k":5e-324}', { n: 1.7976931348623157e308, m: -0, k: 5e-324 }],
    [' [1, "two", null, true] ', [1, 'two', null, true]],
    ['{"constructor":"x","prototype":{}}', { constructor: 'x', prototype: {} }],
    ['{"a":"\\\\u0000","b":"\\\\"}', { a: '\\u0000', b: '\\' }],
  ];
  for (const [raw, value] of accepted) {
    const r = parseStrictJson(Buffer.from(raw));
    assert.ok(r.ok, raw);
    assert.deepEqual(r.value, value);
  }
});

test('the text rule refuses NUL and lone surrogates and accepts paired ones', () => {
  assert.match(textProblem('a\u0000')!, /NUL/);
  assert.match(textProblem('\ud800')!, /surrogate/);
  assert.match(textProblem('a\udc00b')!, /surrogate/);
  assert.equal(textProblem('😀 plain'), undefined);
  assert.deepEqual(checkValue({ q: ['ok', 'x\u0000'] }), {
    code: 'INVALID_TEXT',
    message: 'a string contains U+0000 (NUL)',
    path: '/q/1',
  });
  assert.equal(checkValue({ q: 'ok', n: 3 }), undefined);
});

test('base64url is accepted only in its canonical spelling', () => {
  const sig = Buffer.from([1, 2, 3, 4, 5]).toString('base64url'); // 'AQIDBAU': 7 chars, 2 unused bits
  assert.ok(isCanonicalBase64url(sig));
  assert.equal(Buffer.from('AQIDBAV', 'base64url').toString('hex'), '0102030405', 'same bytes');
  assert.equal(isCanonicalBase64url('AQIDBAV'), false);
  assert.equal(isCanonicalBase64url('AQIDBAU='), false, 'no padding');
  assert.equal(isCanonicalBase64url('AQ+D'), false, 'no base64 alphabet');
  assert.equal(isCanonicalBase64url('A'), false);
  assert.ok(isCanonicalBase64url(''));
});
