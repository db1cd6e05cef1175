/**
 * Target URLs: only the caller's schemes, no credentials, a host and a valid port; an IP host in any
 * notation the URL parser accepts is judged as the address it means.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAddressPolicy } from './address-policy.js';
import { checkTargetUrl, type OutboundScheme } from './url-policy.js';

const policy = createAddressPolicy();
const check = (url: string, schemes: OutboundScheme[] = ['https', 'http']) =>
  checkTargetUrl(url, { schemes, policy });
const refusedWith = (code: string, pattern?: RegExp) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, code, String(e));
  if (pattern) assert.match((e as Error).message, pattern);
  return true;
};

test('a public https URL passes with its port and host', () => {
  const target = check('https://Hooks.Example.com/in?x=1');
  assert.deepEqual(
    { scheme: target.scheme, host: target.host, port: target.port, isIp: target.isIpAddress },
    { scheme: 'https', host: 'hooks.example.com', port: 443, isIp: false },
  );
  assert.equal(target.url.href, 'https://hooks.example.com/in?x=1');
  assert.equal(check('http://example.com:8080/').port, 8080);
  assert.equal(check('https://[2606:4700::1111]/').host, '2606:4700::1111');
  assert.equal(check('mqtts://broker.example.com', ['mqtts']).port, 8883);
  assert.equal(check('mqtt://broker.example.com:1884', ['mqtt']).port, 1884);
});

test('only the schemes the caller allows', () => {
  assert.throws(() => check('http://example.com/', ['https']), refusedWith('OUTBOUND_URL_REFUSED', /http:/));
  for (const url of [
    'ftp://example.com/',
    'file:///etc/passwd',
    'gopher://example.com/',
    'javascript:alert(1)',
  ])
    assert.throws(() => check(url), refusedWith('OUTBOUND_URL_REFUSED'), url);
  assert.throws(() => check('mqtt://broker.example.com', ['mqtts']), refusedWith('OUTBOUND_URL_REFUSED'));
  assert.throws(() => check('not a url'), refusedWith('OUTBOUND_URL_REFUSED', /absolute URL/));
  assert.throws(() => check('/relative/path'), refusedWith('OUTBOUND_URL_REFUSED'));
});

test('credentials in the URL, a missing host and a bad port are refused', () => {
  assert.throws(
    () => check('https://user:pass@example.com/'),
    refusedWith('OUTBOUND_URL_REFUSED', /user name/),
  );
  assert.throws(() => check('https://user@example.com/'), refusedWith('OUTBOUND_URL_REFUSED'));
  assert.throws(() => check('https://:pw@example.com/'), refusedWith('OUTBOUND_URL_REFUSED'));
  assert.throws(() => check('mqtt:///topic', ['mqtt']), refusedWith('OUTBOUND_URL_REFUSED', /host/));
  assert.throws(() => check('https://example.com:0/'), refusedWith('OUTBOUND_URL_REFUSED', /port/));
  assert.throws(() => check('https://example.com:65536/'), refusedWith('OUTBOUND_URL_REFUSED'));
});

test('IP hosts in every notation the parser accepts end dotted and are refused', () => {
  const cases: [string, string][] = [
    ['http://127.0.0.1/', '127.0.0.1'],
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://017700000001/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://%31%32%37.0.0.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://2852039166/', '169.254.169.254'],
    ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254'],
    ['http://167772161/', '10.0.0.1'],
    ['https://[::1]/', '::1'],
    ['https://[0:0:0:0:0:0:0:1]/', '::1'],
    ['https://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['https://[::ffff:7f00:1]/', '::ffff:7f00:1'],
    ['https://[fd00::1]/', 'fd00::1'],
    ['https://[fe80::1]/', 'fe80::1'],
    ['mqtt://2130706433:1883', '127.0.0.1'],
    ['mqtts://0x7f.1', '127.0.0.1'],
    ['mqtt://%31%32%37.0.0.1', '127.0.0.1'],
    ['mqtt://[::1]', '::1'],
  ];
  for (const [url, address] of cases)
    assert.throws(
      () => check(url, ['https', 'http', 'mqtt', 'mqtts']),
      refusedWith('OUTBOUND_ADDRESS_REFUSED', new RegExp(`refused: ${address.replace(/\./g, '\\.')} `)),
      url,
    );
});

test('names for this machine are refused before any lookup; other names wait for it', () => {
  for (const url of ['https://localhost/', 'https://LOCALHOST./', 'https://api.localhost/'])
    assert.throws(() => check(url), refusedWith('OUTBOUND_ADDRESS_REFUSED', /this machine/), url);
  assert.equal(check('https://localhost.example.com/').host, 'localhost.example.com');
});

test('an allow-listed address passes, normalised', () => {
  const open = createAddressPolicy({ allowList: ['127.0.0.1/32'] });
  const target = checkTargetUrl('http://2130706433:8080/hook', { schemes: ['http'], policy: open });
  assert.equal(target.host, '127.0.0.1');
  assert.equal(target.isIpAddress, true);
  assert.equal(target.url.href, 'http://127.0.0.1:8080/hook');
  const mqtt = checkTargetUrl('mqtt://0x7f.1', { schemes: ['mqtt'], policy: open });
  assert.equal(mqtt.url.href, 'mqtt://127.0.0.1');
});
