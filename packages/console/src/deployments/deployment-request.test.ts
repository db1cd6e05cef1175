import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiProblem } from '../shared/api.js';
import { EMPTY_DRAFT, FieldProblem, fieldErrors, requestOf } from './deployment-request.js';

test('an empty form sends the artifact and an empty target: every other member is the API default', () => {
  assert.deepEqual(requestOf({ ...EMPTY_DRAFT, artifactId: 'art_1' }), { artifactId: 'art_1', target: {} });
});

test('every field filled in becomes its member: target lists, phases with the soak in seconds, rules, the gate', () => {
  const body = requestOf({
    ...EMPTY_DRAFT,
    artifactId: 'art_1',
    name: '  spring release ',
    tags: 'site:a, site:b site:a',
    versions: '1.4.0 1.4.1',
    belowVersion: ' 2.0.0 ',
    deviceIds: 'dev_1\ndev_2',
    phases: '10%, 50 100',
    soakMinutes: '90',
    maxInFlight: '25',
    retries: '0',
    failurePercent: '12.5',
    minExecutions: '40',
    marginPercent: '3',
    minSample: '5',
    windowMinutes: '30',
    maxReboots: '4',
  });
  assert.deepEqual(body, {
    artifactId: 'art_1',
    name: 'spring release',
    target: {
      tags: ['site:a', 'site:b'],
      versions: ['1.4.0', '1.4.1'],
      belowVersion: '2.0.0',
      deviceIds: ['dev_1', 'dev_2'],
    },
    phases: [
      { percent: 10, soakSeconds: 5400 },
      { percent: 50, soakSeconds: 5400 },
      { percent: 100, soakSeconds: 5400 },
    ],
    maxInFlight: 25,
    retries: { max: 0 },
    statusRule: { failurePercent: 12.5, minExecutions: 40 },
    healthGate: { marginPercent: 3, minSample: 5, windowSeconds: 1800, maxReboots: 4 },
  });
});

test('a health gate turned off sends only that, whatever its fields hold', () => {
  const body = requestOf({ ...EMPTY_DRAFT, artifactId: 'art_1', gate: false, marginPercent: '3' });
  assert.deepEqual(body.healthGate, { enabled: false });
});

test('a phase named twice is sent twice, for the API to refuse, not dropped', () => {
  const body = requestOf({ ...EMPTY_DRAFT, artifactId: 'art_1', phases: '50 50 100' });
  assert.deepEqual(
    body.phases?.map((p) => p.percent),
    [50, 50, 100],
  );
});

test('what the form cannot send is refused on its field', () => {
  const refused = (patch: Partial<typeof EMPTY_DRAFT>) => {
    try {
      requestOf({ ...EMPTY_DRAFT, artifactId: 'art_1', ...patch });
    } catch (e) {
      assert.ok(e instanceof FieldProblem);
      return [e.field, e.message];
    }
    assert.fail('not refused');
  };
  assert.deepEqual(refused({ maxInFlight: 'ten' }), ['maxInFlight', 'Not a number.']);
  assert.deepEqual(refused({ phases: '10 half 100' }), ['phases', 'Not a percentage: half']);
  assert.deepEqual(refused({ soakMinutes: '60' }), [
    'soakMinutes',
    'The soak applies to the phases: give the phases too.',
  ]);
  assert.equal(refused({ failurePercent: '10' })[0], 'failurePercent');
});

test("a refusal's errors land on the fields whose members they name", () => {
  const problem = new ApiProblem(400, 'VALIDATION_FAILED', 'bad', {
    errors: [
      { path: '/phases/1/percent', message: 'the last phase must cover 100 %' },
      { path: '/target/tags/0', message: 'must match pattern' },
      { path: '/healthGate/minSample', message: 'must be >= 1' },
      { path: '/statusRule/minExecutions', message: 'must be >= 1' },
      { path: '/somethingElse', message: 'ignored' },
    ],
  });
  assert.deepEqual(fieldErrors(problem), {
    phases: 'the last phase must cover 100 %',
    tags: 'must match pattern',
    minSample: 'must be >= 1',
    failurePercent: 'must be >= 1',
  });
});
