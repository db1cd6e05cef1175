import { test } from 'node:test';
import assert from 'node:assert/strict';
import { passwordWeakness } from './password-policy.js';

test('common breached passwords and their decorations are refused', () => {
  for (const pw of [
    'Password123!',
    'P@ssw0rd2024',
    'qwertyqwerty',
    '123456789012',
    'aaaaaaaaaaaa',
    'abcdefghijkl',
    'Welcome1!!!!',
    'iloveyou1234',
    'Dragon!!2025',
    'correcthorsebatterystaple',
    '!!!!!!!!!!!!1',
  ])
    assert.ok(passwordWeakness(pw), `${pw} should be refused`);
});

test('length, and the user name inside the password', () => {
  assert.match(passwordWeakness('short1!') ?? '', /12 to 256/);
  assert.match(passwordWeakness('x'.repeat(257)) ?? '', /12 to 256/);
  assert.match(passwordWeakness('alice-rides-a-bike', 'Alice') ?? '', /user name/);
});

test('long passphrases and random strings are accepted', () => {
  for (const pw of ['tidal harbour rope 42', 'vK9#qLr2!mZp', 'mooring-lines-hold-fast-at-dawn'])
    assert.equal(passwordWeakness(pw, 'bob'), undefined, pw);
});
