/**
 * The audit writer appends queued events in order, in slices of at most AUDIT_SLICE records, and lets the
 * event loop turn between slices: 10,000 events reported at once (a factory batch) never become one
 * long transaction that every other request waits behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../platform/observability.js';
import type { AuditEntry } from './audit.js';
import { AUDIT_SLICE, createAuditWriter } from './writer.js';

const silent = { error: () => undefined } as unknown as Logger;

test('10,000 events reported in one go are written in order, a slice at a time, with the event loop turning between', async () => {
  const calls: { size: number; first: string; turnsBefore: number }[] = [];
  let turns = 0;
  const writer = createAuditWriter(
    {
      async recordMany(entries: readonly AuditEntry[]) {
        calls.push({ size: entries.length, first: entries[0]!.target ?? '', turnsBefore: turns });
        return [];
      },
    },
    silent,
  );
  // Counts turns of the event loop while the writer works.
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  for (let i = 0; i < 10_000; i++)
    writer.sink({ tenantId: 't', actor: 'system', action: 'factory.issue', target: `u${i}`, changes: null });
  await writer.flush();
  counting = false;

  assert.ok(AUDIT_SLICE <= 100);
  assert.equal(calls.length, 10_000 / AUDIT_SLICE);
  assert.ok(
    calls.every((c) => c.size === AUDIT_SLICE),
    `slice sizes: ${[...new Set(calls.map((c) => c.size))].join(', ')}`,
  );
  assert.deepEqual(
    calls.map((c) => c.first),
    calls.map((_, i) => `u${i * AUDIT_SLICE}`),
    'in the order reported',
  );
  for (let i = 1; i < calls.length; i++)
    assert.ok(
      calls[i]!.turnsBefore > calls[i - 1]!.turnsBefore,
      `no turn of the event loop before slice ${i}`,
    );
});

test('a failed slice is logged and the next ones are still written; flush waits for events queued meanwhile', async () => {
  const written: string[] = [];
  const errors: unknown[] = [];
  let fail = true;
  const writer = createAuditWriter(
    {
      async recordMany(entries: readonly AuditEntry[]) {
        if (fail) {
          fail = false;
          throw new Error('store down');
        }
        written.push(...entries.map((e) => e.target ?? ''));
        return [];
      },
    },
    { error: (o: unknown) => errors.push(o) } as unknown as Logger,
  );
  const n = AUDIT_SLICE + 50;
  for (let i = 0; i < n; i++)
    writer.sink({ tenantId: 't', actor: 'system', action: 'x', target: `a${i}`, changes: null });
  const flushed = writer.flush();
  writer.sink({ tenantId: 't', actor: 'system', action: 'x', target: 'late', changes: null });
  await flushed;
  assert.equal(errors.length, 1);
  // The first slice failed; everything after it, the late event included, was written.
  assert.deepEqual(written, [...Array.from({ length: 50 }, (_, i) => `a${AUDIT_SLICE + i}`), 'late']);
});
