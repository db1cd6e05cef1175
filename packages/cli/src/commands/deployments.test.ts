/** The body `deployments create` sends, from its options (no server: the API tests are in test/). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../context.js';
import { createBody, parsePhases, type CreateOptions } from './deployments.js';

test('every option of deployments create lands in the body the API takes', () => {
  assert.deepEqual(
    createBody({
      artifact: 'art_1',
      name: 'spring',
      tag: ['line:a', 'line:b'],
      device: ['dev_1'],
      firmwareVersion: ['1.0.0', '1.1.0'],
      belowVersion: '2.0.0',
      phases: '1:2h,10,50,100',
      soak: '3600',
      maxInFlight: '50',
      abortFailures: '5',
      abortAfter: '20',
      healthGate: true,
      healthMargin: '2.5',
      healthMinSample: '20',
      healthWindow: '1h',
      healthMaxReboots: '3',
      healthTelemetry: 'sensor:temp:higher:10',
      retries: '2',
      retryBackoff: '5m',
      windowCron: '0 2 * * *',
      windowMinutes: '120',
      windowTz: 'Europe/Berlin',
      timeout: ['downloading=10m', 'offered=86400'],
    }),
    {
      artifactId: 'art_1',
      name: 'spring',
      target: {
        tags: ['line:a', 'line:b'],
        deviceIds: ['dev_1'],
        versions: ['1.0.0', '1.1.0'],
        belowVersion: '2.0.0',
      },
      phases: [
        { percent: 1, soakSeconds: 7200 },
        { percent: 10, soakSeconds: 3600 },
        { percent: 50, soakSeconds: 3600 },
        { percent: 100, soakSeconds: 3600 },
      ],
      maxInFlight: 50,
      statusRule: { failurePercent: 5, minExecutions: 20 },
      healthGate: {
        marginPercent: 2.5,
        minSample: 20,
        windowSeconds: 3600,
        maxReboots: 3,
        telemetry: { key: 'sensor:temp', worseWhen: 'higher', marginPercent: 10 },
      },
      timeouts: { downloading: 600, offered: 86_400 },
      retries: { max: 2, backoffSeconds: 300 },
      maintenanceWindow: { cron: '0 2 * * *', durationMinutes: 120, timezone: 'Europe/Berlin' },
    },
  );
  // Only what was given: the server's defaults hold for the rest.
  assert.deepEqual(createBody({ artifact: 'art_1', all: true, healthGate: true }), {
    artifactId: 'art_1',
    target: {},
  });
  assert.deepEqual(createBody({ artifact: 'art_1', tag: ['x'], healthGate: false }), {
    artifactId: 'art_1',
    target: { tags: ['x'] },
    healthGate: { enabled: false },
  });
  assert.deepEqual(parsePhases('25,100'), [{ percent: 25 }, { percent: 100 }]);
});

test('deployments create refuses options that do not go together, before any request', () => {
  const base = { artifact: 'art_1', tag: ['x'], healthGate: true };
  const cases: [CreateOptions, RegExp][] = [
    [{ artifact: 'art_1', healthGate: true }, /no target/],
    [{ ...base, all: true }, /--all targets every device/],
    [{ ...base, soak: '1h' }, /--soak applies to the phases/],
    [{ ...base, abortFailures: '5' }, /--abort-failures and --abort-after go together/],
    [{ ...base, windowMinutes: '60' }, /--window-cron and --window-minutes go together/],
    [{ ...base, windowTz: 'UTC' }, /--window-tz goes with/],
    [{ ...base, retryBackoff: '1m' }, /--retry-backoff goes with --retries/],
    [{ ...base, healthGate: false, healthMargin: '5' }, /--no-health-gate/],
    [{ ...base, timeout: ['queued=5'] }, /--timeout 'queued=5'/],
    [{ ...base, timeout: ['offered=soon'] }, /--timeout 'soon' is not a duration/],
    [{ ...base, maxInFlight: 'many' }, /--max-in-flight 'many' is not an integer/],
    [{ ...base, phases: '10,x' }, /--phases 'x' is not a number/],
    [{ ...base, phases: '10:1h:2,100' }, /--phases: '10:1h:2'/],
    [{ ...base, healthTelemetry: 'temp:up:5' }, /--health-telemetry/],
  ];
  for (const [o, message] of cases)
    assert.throws(
      () => createBody(o),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
    );
});
