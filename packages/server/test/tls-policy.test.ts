/**
 * The TLS policy of every listener (HTTPS with WSS, which is the same server, MQTT/TLS, MQTT/mTLS with a
 * device certificate the platform issued): TLS 1.1 is refused, only AEAD suites are offered (a client
 * that speaks only CBC suites fails the handshake), TLS 1.3 is there, the key-exchange groups are the
 * profile's, the server's suite order holds (but ChaCha20 for a client that lists it first), and a
 * client-initiated renegotiation is refused. The
 * mTLS and HTTPS listeners are checked after their trust was reloaded by the first device certificate,
 * since a reload replaces the whole secure context.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { CLASSIC_GROUPS } from '../src/platform/tls/policy.js';
import { startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

let t: TestPlatform;
let clientCert: { key: string; cert: string };
const work = mkdtempSync(join(tmpdir(), 'mooring-tls-test-'));

/** TLS 1.2 suites with CBC encryption that OpenSSL still speaks (ECDSA and RSA certificates). */
const CBC_ONLY = [
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-RSA-AES256-SHA',
  // RSA key transport, no forward secrecy.
  'AES128-SHA',
].join(':');

before(async () => {
  t = await startTestPlatform();
  const { apiKey } = await t.tenant();
  const { key, csr } = deviceKeyAndCsr(work);
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'tls', kind: 'device', serial: 'TLS-1', approval: 'auto' },
  });
  const op = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial: 'TLS-1', csr },
  });
  assert.equal(op.body.status, 'approved', op.text);
  clientCert = { key, cert: op.body.certificate + op.body.certificateChain };
  // The tenant's issuing CA was used for the first time: the listeners reload their trust.
  await new Promise((r) => setTimeout(r, 200));
});
after(async () => {
  await t.stop();
});

function listeners(): { name: string; port: number; options: ConnectionOptions }[] {
  return [
    { name: 'HTTPS', port: t.platform.httpPort, options: {} },
    { name: 'MQTT/TLS', port: t.platform.mqttPort, options: {} },
    { name: 'MQTT/mTLS', port: t.platform.mqttMtlsPort, options: clientCert },
  ];
}

/** Opens a TLS connection; resolves with the socket once secure, or with the handshake error. */
function handshake(port: number, options: ConnectionOptions): Promise<TLSSocket | Error> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      ca: t.platform.caCert,
      ...options,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', (e) => resolve(e));
  });
}

test('a client that offers only CBC suites fails the handshake on every listener', async () => {
  for (const l of listeners()) {
    const cbc = await handshake(l.port, { ...l.options, maxVersion: 'TLSv1.2', ciphers: CBC_ONLY });
    if (!(cbc instanceof Error)) {
      const suite = cbc.getCipher().name;
      cbc.destroy();
      assert.fail(`${l.name} negotiated the CBC suite ${suite}`);
    }
    assert.match(cbc.message, /handshake failure|no shared cipher|no ciphers/i, `${l.name}: ${cbc.message}`);
    // The same client with an AEAD suite gets through: the refusal above is the suite, nothing else.
    const aead = await handshake(l.port, {
      ...l.options,
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    });
    assert.ok(!(aead instanceof Error), `${l.name}: ${String(aead)}`);
    assert.equal(aead.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    aead.destroy();
    // And TLS 1.3 stays available.
    const modern = await handshake(l.port, l.options);
    assert.ok(!(modern instanceof Error), `${l.name}: ${String(modern)}`);
    assert.equal(modern.getProtocol(), 'TLSv1.3', l.name);
    modern.destroy();
  }
});

test('TLS 1.1 is refused on every listener with a protocol_version alert', async () => {
  for (const l of listeners()) {
    // SECLEVEL=0 lets this client's OpenSSL offer TLS 1.1 at all: the refusal must be the server's.
    const old = await handshake(l.port, {
      ...l.options,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    if (!(old instanceof Error)) {
      old.destroy();
      assert.fail(`${l.name} accepted TLS 1.1`);
    }
    assert.match(old.message, /alert protocol version/, `${l.name}: ${old.message}`);
  }
});

test("the key-exchange groups are the profile's on every listener, on TLS 1.2 and 1.3", async () => {
  /** The group agreed on when the client offers these, in its order of preference, or the error. */
  async function agreed(
    l: ReturnType<typeof listeners>[number],
    maxVersion: 'TLSv1.2' | 'TLSv1.3',
    groups: string,
  ) {
    const s = await handshake(l.port, { ...l.options, maxVersion, ecdhCurve: groups });
    if (s instanceof Error) return s;
    // A client sees the server's ephemeral key: { type: 'ECDH', name, size }.
    const info = s.getEphemeralKeyInfo() as { name?: string } | null;
    s.destroy();
    return info?.name;
  }
  for (const l of listeners()) {
    // TLS 1.3: the client's key share in each of the profile's groups is taken as it is.
    for (const group of CLASSIC_GROUPS) {
      assert.equal(await agreed(l, 'TLSv1.3', group), group, `${l.name} TLS 1.3 ${group}`);
    }
    // OpenSSL's defaults outside the profile, P-521 and X448, are never agreed on: alone they fail,
    // and beside P-256 the server asks for a P-256 key share instead.
    for (const outside of ['secp521r1', 'X448']) {
      const alone = await agreed(l, 'TLSv1.3', outside);
      assert.ok(alone instanceof Error, `${l.name} agreed on ${String(alone)}`);
      assert.match(alone.message, /handshake failure/, `${l.name} ${outside}: ${alone.message}`);
      assert.equal(await agreed(l, 'TLSv1.3', `${outside}:prime256v1`), 'prime256v1', l.name);
    }
    // TLS 1.2: the server's order picks among the groups both sides have. (The client's list also
    // names the curves it accepts in an ECDSA certificate, so P-256, the server key's, is on each.)
    const tls12: [string, string][] = [
      ['secp521r1:X448:secp384r1:prime256v1:X25519', 'X25519'],
      ['secp521r1:X448:secp384r1:prime256v1', 'prime256v1'],
      ['secp521r1:prime256v1', 'prime256v1'],
    ];
    for (const [offer, group] of tls12) {
      assert.equal(await agreed(l, 'TLSv1.2', offer), group, `${l.name} TLS 1.2 ${offer}`);
    }
  }
});

test("the server's suite order holds on every listener, except for a client that prefers ChaCha20", async () => {
  for (const l of listeners()) {
    const cases: [string, string][] = [
      ['ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
      // A client without AES instructions lists ChaCha20 first and gets it.
      ['ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    ];
    for (const [ciphers, expected] of cases) {
      const s = await handshake(l.port, { ...l.options, maxVersion: 'TLSv1.2', ciphers });
      assert.ok(!(s instanceof Error), `${l.name}: ${String(s)}`);
      const suite = s.getCipher().name;
      s.destroy();
      assert.equal(suite, expected, `${l.name} ${ciphers}`);
    }
  }
});

test('a client-initiated renegotiation is refused on every listener', async () => {
  for (const l of listeners()) {
    const s = await handshake(l.port, { ...l.options, maxVersion: 'TLSv1.2' });
    assert.ok(!(s instanceof Error), `${l.name}: ${String(s)}`);
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(s.destroyed ? 'closed' : 'no answer'), 2_000);
      const done = (what: string) => {
        clearTimeout(timer);
        resolve(what);
      };
      s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
      s.on('close', () => done('closed'));
      // Read what the server sends (its alert, or an HTTP 400), so that an end is seen.
      s.resume();
      s.renegotiate({ rejectUnauthorized: true }, (err) =>
        done(err ? ((err as NodeJS.ErrnoException).code ?? err.message) : 'renegotiated'),
      );
    });
    s.destroy();
    assert.notEqual(outcome, 'renegotiated', `${l.name} renegotiated`);
    assert.ok(
      outcome === 'ERR_SSL_NO_RENEGOTIATION' || outcome === 'closed',
      `${l.name}: unexpected outcome ${outcome}`,
    );
  }
});
