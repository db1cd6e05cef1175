/**
 * The TLS policy with an RSA server certificate, which an operator may configure
 * (MOORING_TLS_CERT_FILE): the ECDHE-RSA suites are offered, the DHE and RSA key-transport suites are
 * not, the server's suite order holds except for a client that prefers ChaCha20, and each of the
 * profile's groups works alone (an RSA certificate puts no curve of its own on the client's list).
 * The listeners' own certificate is ECDSA; their handshakes are checked end to end in
 * test/tls-policy.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type ConnectionOptions, type Server } from 'node:tls';
import {
  CLASSIC_GROUPS,
  HYBRID_GROUP,
  TLS_GROUPS,
  TLS_SERVER_POLICY,
  supportsGroup,
  withTlsPolicy,
} from './policy.js';

const work = mkdtempSync(join(tmpdir(), 'mooring-tls-policy-'));
let server: Server;
let port: number;

before(async () => {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work, 'key.pem')].concat([
      '-out',
      join(work, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ]),
    { stdio: 'ignore' },
  );
  server = createServer(
    withTlsPolicy({
      key: readFileSync(join(work, 'key.pem')),
      cert: readFileSync(join(work, 'cert.pem')),
    }),
    (socket) => socket.end(),
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.close();
  rmSync(work, { recursive: true, force: true });
});

/** The negotiated suite, or the handshake's error. */
function handshake(
  options: ConnectionOptions,
): Promise<{ protocol: string; cipher: string; group: string | undefined } | Error> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    s.once('secureConnect', () => {
      const key = s.getEphemeralKeyInfo() as { name?: string } | null;
      resolve({ protocol: s.getProtocol() ?? '', cipher: s.getCipher().name, group: key?.name });
      s.destroy();
    });
    s.once('error', (e) => resolve(e));
  });
}

test("the groups are the profile's, with the hybrid post-quantum one first where OpenSSL has it", () => {
  assert.deepEqual(TLS_GROUPS.slice(-3), ['X25519', 'prime256v1', 'secp384r1']);
  assert.deepEqual(CLASSIC_GROUPS, ['X25519', 'prime256v1', 'secp384r1']);
  assert.equal(TLS_GROUPS.includes(HYBRID_GROUP), supportsGroup(HYBRID_GROUP));
  assert.equal(TLS_GROUPS.length, supportsGroup(HYBRID_GROUP) ? 4 : 3);
  assert.equal(supportsGroup('X25519'), true);
  assert.equal(supportsGroup('no-such-group'), false);
  assert.equal(TLS_SERVER_POLICY.ecdhCurve, TLS_GROUPS.join(':'));
  assert.equal(TLS_SERVER_POLICY.honorCipherOrder, true);
  assert.ok(TLS_SERVER_POLICY.secureOptions & constants.SSL_OP_PRIORITIZE_CHACHA);
  assert.ok(TLS_SERVER_POLICY.secureOptions & constants.SSL_OP_NO_RENEGOTIATION);
  // Forward-secret AEAD suites only: TLS 1.3's, or ECDHE with AES-GCM or ChaCha20 (no DHE, no CBC).
  for (const suite of TLS_SERVER_POLICY.ciphers.split(':'))
    assert.match(suite, /^(TLS_|ECDHE-(ECDSA|RSA)-)(AES\d+-GCM|AES_\d+_GCM|CHACHA20)/, suite);
});

test('with an RSA certificate the ECDHE-RSA AEAD suites are offered on TLS 1.2', async () => {
  for (const suite of [
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ]) {
    const r = await handshake({ maxVersion: 'TLSv1.2', ciphers: suite });
    assert.ok(!(r instanceof Error), `${suite}: ${String(r)}`);
    assert.deepEqual([r.protocol, r.cipher], ['TLSv1.2', suite]);
  }
  const modern = await handshake({});
  assert.ok(!(modern instanceof Error), String(modern));
  assert.equal(modern.protocol, 'TLSv1.3');
});

test('DHE suites, RSA key transport and CBC are refused', async () => {
  for (const suite of [
    'DHE-RSA-AES128-GCM-SHA256',
    'DHE-RSA-AES256-GCM-SHA384',
    'DHE-RSA-CHACHA20-POLY1305',
    'AES128-GCM-SHA256',
    'AES128-SHA',
    'ECDHE-RSA-AES128-SHA',
  ]) {
    const r = await handshake({ maxVersion: 'TLSv1.2', ciphers: suite });
    assert.ok(r instanceof Error, `${suite} was negotiated`);
    assert.match(r.message, /handshake failure/, `${suite}: ${r.message}`);
  }
});

test("the server's suite order holds, except that a client that prefers ChaCha20 gets it", async () => {
  const cases: ['TLSv1.2' | 'TLSv1.3', string, string][] = [
    ['TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
    ['TLSv1.2', 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
    ['TLSv1.3', 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256', 'TLS_AES_128_GCM_SHA256'],
    ['TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'],
  ];
  for (const [maxVersion, ciphers, expected] of cases) {
    const r = await handshake({ maxVersion, ciphers });
    assert.ok(!(r instanceof Error), `${ciphers}: ${String(r)}`);
    assert.equal(r.cipher, expected, ciphers);
  }
});

test("each of the profile's groups works alone, and no other group does", async () => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const group of CLASSIC_GROUPS) {
      const r = await handshake({ maxVersion, ecdhCurve: group });
      assert.ok(!(r instanceof Error), `${maxVersion} ${group}: ${String(r)}`);
      assert.equal(r.group, group, maxVersion);
    }
    for (const outside of ['secp521r1', 'X448']) {
      const r = await handshake({ maxVersion, ecdhCurve: outside });
      assert.ok(r instanceof Error, `${maxVersion} agreed on ${outside}`);
    }
  }
  // On TLS 1.2 the server's order picks among the groups both sides have.
  const r = await handshake({ maxVersion: 'TLSv1.2', ecdhCurve: 'secp521r1:secp384r1:prime256v1:X25519' });
  assert.ok(!(r instanceof Error), String(r));
  assert.equal(r.group, 'X25519');
});
