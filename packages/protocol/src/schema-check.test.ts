import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandResult } from './commands.js';
import { parseProvisioningStart } from './api/provisioning.js';

test('a command result is checked against its schema, with the messages devices have always had', () => {
  assert.deepEqual(parseCommandResult({ status: 'succeeded', result: { a: 1 } }), {
    ok: true,
    value: { status: 'succeeded', result: { a: 1 } },
  });
  for (const [body, message] of [
    [[], 'result must be an object'],
    [null, 'result must be an object'],
    [{ status: 'done' }, "status must be 'succeeded' or 'failed'"],
    [{ status: 'failed', error: 'x'.repeat(1025) }, 'error must be a string of at most 1024 characters'],
    [{ status: 'failed', reason: 'x' }, "unknown field 'reason'"],
  ] as const)
    assert.deepEqual(parseCommandResult(body), { ok: false, message }, JSON.stringify(body));
});

test('a provisioning start message is checked against the schema the HTTPS body is validated with', () => {
  const ok = parseProvisioningStart({ serial: 'SN-1', attributes: { fw: '1.2' }, verificationCode: 'AB12' });
  assert.ok(ok.ok);
  for (const [body, path] of [
    [{ serial: 7 }, '/serial'],
    [{ serial: 'has space' }, '/serial'],
    [{ serial: 'SN-1', attributes: [] }, '/attributes'],
    [{ serial: 'SN-1', verificationCode: 'ab' }, '/verificationCode'],
    [{ serial: 'SN-1', csr: 1 }, '/csr'],
    [{ serial: 'SN-1', requestId: 'r1' }, '/requestId'],
  ] as const) {
    const r = parseProvisioningStart(body);
    assert.ok(!r.ok && r.path === path, `${JSON.stringify(body)}: ${JSON.stringify(r)}`);
  }
});
