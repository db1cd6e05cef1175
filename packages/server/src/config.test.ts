import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.js';

test('defaults need no configuration at all', () => {
  const c = loadConfig({});
  assert.equal(c.databaseUrl, '');
  assert.equal(c.httpPort, 8443);
  assert.equal(c.mqttPort, 8883);
  assert.equal(c.devInsecureMqtt, false);
  assert.ok(Object.isFrozen(c));
});

const invalid: { desc: string; env: Record<string, string>; message: RegExp }[] = [
  {
    desc: 'a port that is no number',
    env: { MOORING_HTTP_PORT: 'https' },
    message: /^MOORING_HTTP_PORT: must be an integer from 0 to 65535, got 'https'$/,
  },
  { desc: 'a port out of range', env: { MOORING_MQTT_PORT: '70000' }, message: /^MOORING_MQTT_PORT: / },
  {
    desc: 'an unknown log level',
    env: { MOORING_LOG_LEVEL: 'loud' },
    message: /^MOORING_LOG_LEVEL: must be one of/,
  },
  {
    desc: 'a database URL of another kind',
    env: { MOORING_DATABASE_URL: 'mysql://x' },
    message: /^MOORING_DATABASE_URL: /,
  },
  {
    desc: 'a boolean that is neither',
    env: { MOORING_DEV_INSECURE_MQTT: 'maybe' },
    message: /^MOORING_DEV_INSECURE_MQTT: must be true or false/,
  },
  {
    desc: 'a certificate without its key',
    env: { MOORING_TLS_CERT_FILE: '/x.pem' },
    message: /given together/,
  },
  {
    desc: 'a missing config file',
    env: { MOORING_CONFIG_FILE: '/nonexistent/mooring.json' },
    message: /^MOORING_CONFIG_FILE: cannot read/,
  },
];

for (const c of invalid) {
  test(`configuration with ${c.desc} fails fast naming the key`, () => {
    assert.throws(
      () => loadConfig(c.env),
      (e: unknown) => e instanceof ConfigError && c.message.test(e.message),
    );
  });
}

test('a config file is read, the environment wins over it, and unknown keys are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mooring-config-'));
  const file = join(dir, 'mooring.json');
  writeFileSync(file, JSON.stringify({ httpPort: 9443, mqttPort: 9883, logLevel: 'debug' }));
  const c = loadConfig({ MOORING_CONFIG_FILE: file, MOORING_MQTT_PORT: '1999' });
  assert.equal(c.httpPort, 9443);
  assert.equal(c.mqttPort, 1999);
  assert.equal(c.logLevel, 'debug');
  writeFileSync(file, JSON.stringify({ httpPrt: 1 }));
  assert.throws(
    () => loadConfig({ MOORING_CONFIG_FILE: file }),
    /config file key 'httpPrt' is not a known setting/,
  );
  writeFileSync(file, '[1,2]');
  assert.throws(() => loadConfig({ MOORING_CONFIG_FILE: file }), /is not a JSON object/);
});

test('HTTPS hygiene settings: defaults, and values that fail fast naming the key', () => {
  const c = loadConfig({});
  assert.equal(c.httpHeadersTimeoutSeconds, 10);
  assert.equal(c.httpIdleTimeoutSeconds, 75, 'longer than the 60-second long polls');
  assert.equal(c.httpStrictTransportSecurity, 'max-age=31536000');
  assert.deepEqual(c.securityContact, []);
  const ok = loadConfig({
    MOORING_HTTP_STRICT_TRANSPORT_SECURITY: 'max-age=63072000; includeSubDomains; preload',
    MOORING_SECURITY_CONTACT: 'mailto:security@example.com, https://example.com/security',
  });
  assert.equal(ok.httpStrictTransportSecurity, 'max-age=63072000; includeSubDomains; preload');
  assert.deepEqual(ok.securityContact, ['mailto:security@example.com', 'https://example.com/security']);
  assert.equal(
    loadConfig({ MOORING_HTTP_STRICT_TRANSPORT_SECURITY: 'off' }).httpStrictTransportSecurity,
    'off',
  );
  const bad: [Record<string, string>, RegExp][] = [
    [
      { MOORING_HTTP_STRICT_TRANSPORT_SECURITY: 'max-age=1; evil' },
      /^MOORING_HTTP_STRICT_TRANSPORT_SECURITY: /,
    ],
    [
      { MOORING_HTTP_STRICT_TRANSPORT_SECURITY: 'max-age=1\r\nX-A: b' },
      /^MOORING_HTTP_STRICT_TRANSPORT_SECURITY: /,
    ],
    [{ MOORING_SECURITY_CONTACT: 'security@example.com' }, /^MOORING_SECURITY_CONTACT: /],
    [{ MOORING_SECURITY_CONTACT: 'http://example.com/security' }, /^MOORING_SECURITY_CONTACT: /],
    [{ MOORING_SECURITY_TXT_EXPIRES: 'next year' }, /^MOORING_SECURITY_TXT_EXPIRES: /],
    [{ MOORING_HTTP_HEADERS_TIMEOUT_SECONDS: '0' }, /^MOORING_HTTP_HEADERS_TIMEOUT_SECONDS: /],
    [{ MOORING_HTTP_HANDSHAKE_TIMEOUT_SECONDS: '121' }, /^MOORING_HTTP_HANDSHAKE_TIMEOUT_SECONDS: /],
  ];
  for (const [env, message] of bad)
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
});

test('MQTT connection hygiene: defaults, values from the environment, and values out of range', () => {
  const c = loadConfig({});
  assert.equal(c.mqttHandshakeTimeoutSeconds, 10);
  assert.equal(c.mqttConnectTimeoutSeconds, 10);
  assert.equal(c.mqttMaxPacketBytes, 128 * 1024, 'a 64 KiB payload and its topic fit');
  assert.equal(c.mqttMaxKeepaliveSeconds, 1200);
  assert.equal(c.limits['mqtt.pending_connections_per_address'], 100);
  const set = loadConfig({
    MOORING_MQTT_HANDSHAKE_TIMEOUT_SECONDS: '3',
    MOORING_MQTT_CONNECT_TIMEOUT_SECONDS: '4',
    MOORING_MQTT_MAX_PACKET_BYTES: '65536',
    MOORING_MQTT_MAX_KEEPALIVE_SECONDS: '300',
    MOORING_LIMIT_MQTT_PENDING_CONNECTIONS_PER_ADDRESS: '7',
  });
  assert.deepEqual(
    [
      set.mqttHandshakeTimeoutSeconds,
      set.mqttConnectTimeoutSeconds,
      set.mqttMaxPacketBytes,
      set.mqttMaxKeepaliveSeconds,
      set.limits['mqtt.pending_connections_per_address'],
    ],
    [3, 4, 65536, 300, 7],
  );
  for (const env of [
    { MOORING_MQTT_HANDSHAKE_TIMEOUT_SECONDS: '0' },
    { MOORING_MQTT_CONNECT_TIMEOUT_SECONDS: '121' },
    { MOORING_MQTT_MAX_PACKET_BYTES: '1024' },
    { MOORING_MQTT_MAX_PACKET_BYTES: '268435456' },
    { MOORING_MQTT_MAX_KEEPALIVE_SECONDS: '65536' },
    { MOORING_LIMIT_MQTT_PENDING_CONNECTIONS_PER_ADDRESS: '0' },
  ])
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith(Object.keys(env)[0]!),
      JSON.stringify(env),
    );
});
