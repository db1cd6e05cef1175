/** The rule `alerts rules create|update` sends, from its flags, a file and the rule as it is (no server). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../context.js';
import { conditionText, inputOf, ruleBody, targetText, type Rule } from './alert-options.js';

test('create: the flags of a threshold and an absence rule, the kind taken from them', () => {
  assert.deepEqual(
    ruleBody({
      name: 'too hot',
      key: 'temp',
      op: 'gt',
      value: '80.5',
      clearValue: '70',
      for: '2m',
      severity: 'critical',
      tag: ['plant', 'hall'],
      device: ['dev_1'],
      disabled: true,
    }),
    {
      name: 'too hot',
      kind: 'threshold',
      severity: 'critical',
      enabled: false,
      target: { tags: ['plant', 'hall'], deviceIds: ['dev_1'] },
      threshold: { key: 'temp', op: '>', value: 80.5, clearValue: 70, forSeconds: 120 },
    },
  );
  assert.deepEqual(ruleBody({ name: 'silent', kind: 'absence', minutes: '30', of: 'presence' }), {
    name: 'silent',
    kind: 'absence',
    absence: { minutes: 30, of: 'presence' },
  });
});

test('create: what is missing, mixed or not one of the values is refused before anything is sent', () => {
  const refused = (o: Parameters<typeof ruleBody>[0], message: RegExp) =>
    assert.throws(
      () => ruleBody(o),
      (e: Error) => e instanceof UsageError && message.test(e.message),
    );
  refused({ name: 'x' }, /--kind threshold/);
  refused({ key: 'temp', op: '>', value: '1' }, /--name/);
  refused({ name: 'x', key: 'temp', op: '>' }, /needs --value/);
  refused({ name: 'x', key: 'temp', op: '=', value: '1' }, /--op is one of >, >=, <, <=/);
  refused({ name: 'x', key: 'temp', op: '>', value: 'hot' }, /--value 'hot' is not a number/);
  refused(
    { name: 'x', key: 'temp', op: '>', value: '1', minutes: '5' },
    /--minutes belong to the other kind/,
  );
  refused({ name: 'x', minutes: '5', of: 'sound' }, /--of is one of telemetry, presence/);
  refused({ name: 'x', kind: 'absence', minutes: '5' }, /needs --of/);
  refused({ name: 'x', key: 'k', op: '<', value: '1', severity: 'fatal' }, /--severity is one of/);
  refused({ name: 'x', key: 'k', op: '<', value: '1', for: 'soon' }, /--for 'soon' is not a duration/);
});

test('create --file: the JSON rule, with the flags given on top', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mooring-rule-'));
  try {
    const file = join(dir, 'rule.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'from file',
        kind: 'threshold',
        target: { tags: ['a'] },
        threshold: { key: 'temp', op: '<', value: 3, forSeconds: 10 },
      }),
    );
    assert.deepEqual(ruleBody({ file, value: '5', severity: 'info' }), {
      name: 'from file',
      kind: 'threshold',
      severity: 'info',
      target: { tags: ['a'] },
      threshold: { key: 'temp', op: '<', value: 5, forSeconds: 10 },
    });
    writeFileSync(file, '[1]');
    assert.throws(() => ruleBody({ file }), /an alert rule is a JSON object/);
    writeFileSync(file, '{');
    assert.throws(() => ruleBody({ file }), /is not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const answered: Rule = {
  id: 'alr_1',
  name: 'hot',
  kind: 'threshold',
  severity: 'warning',
  enabled: true,
  target: { tags: ['plant'] },
  threshold: { key: 'temp', op: '>', value: 50, clearValue: 50, forSeconds: 0 },
  absence: null,
  createdAt: 1,
  createdBy: null,
  updatedAt: 1,
};

test('update: the rule as it is, changed by the flags given', () => {
  const base = inputOf(answered);
  // No hysteresis before (clearValue = value): none at the new value either.
  assert.deepEqual(ruleBody({ value: '60' }, base).threshold, {
    key: 'temp',
    op: '>',
    value: 60,
    forSeconds: 0,
  });
  const hysteresis = inputOf({ ...answered, threshold: { ...answered.threshold!, clearValue: 40 } });
  assert.equal(ruleBody({ value: '60' }, hysteresis).threshold?.clearValue, 40);
  assert.deepEqual(ruleBody({ device: ['dev_9'] }, base).target, { tags: ['plant'], deviceIds: ['dev_9'] });
  assert.deepEqual(ruleBody({ everyDevice: true }, base).target, {});
  assert.equal(ruleBody({ enabled: true }, { ...base, enabled: false }).enabled, true);
  // A new kind drops the old condition and needs its own.
  assert.deepEqual(ruleBody({ kind: 'absence', minutes: '10', of: 'telemetry' }, base), {
    name: 'hot',
    kind: 'absence',
    severity: 'warning',
    enabled: true,
    target: { tags: ['plant'] },
    absence: { minutes: 10, of: 'telemetry' },
  });
  assert.throws(() => ruleBody({ kind: 'absence' }, base), /needs --minutes, --of/);
});

test('a rule in words', () => {
  assert.equal(conditionText(answered), 'temp > 50');
  assert.equal(
    conditionText({ ...answered, threshold: { ...answered.threshold!, clearValue: 40, forSeconds: 60 } }),
    'temp > 50 for 60s (clears at 40)',
  );
  assert.equal(
    conditionText({ kind: 'absence', threshold: null, absence: { minutes: 5, of: 'presence' } }),
    'offline for 5 min',
  );
  assert.equal(targetText(answered), 'tags plant');
  assert.equal(targetText({ target: {} }), 'every device');
});
