/**
 * The address policy lets plain public unicast through and refuses every special range, IPv6 forms
 * that lead to a refused IPv4 address, and text that is not a plain address; the allow-list opens
 * exactly what it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAddressPolicy } from './address-policy.js';

const policy = createAddressPolicy();
const rangeOf = (address: string) => {
  const verdict = policy.check(address);
  return verdict.allowed ? 'allowed' : verdict.range;
};

test('public unicast addresses pass', () => {
  for (const address of [
    '93.184.215.14',
    '8.8.8.8',
    '1.1.1.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
  ])
    assert.equal(rangeOf(address), 'allowed', address);
});

test('every special IPv4 range is refused, named', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.0.1', 'linkLocal'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
  ];
  for (const [address, range] of cases) assert.equal(rangeOf(address), range, address);
  // Just outside the private and shared ranges is public.
  for (const address of ['172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1'])
    assert.equal(rangeOf(address), 'allowed', address);
});

test('every special IPv6 range is refused, named', () => {
  const cases: [string, string][] = [
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['febf::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'discard'],
    ['::7f00:1', 'ipv4Compatible'],
    ['::127.0.0.1', 'ipv4Compatible'],
    ['::ffff:0:7f00:1', 'rfc6145'],
    ['64:ff9b:1::a00:1', 'rfc6052'],
  ];
  for (const [address, range] of cases) assert.equal(rangeOf(address), range, address);
});

test('IPv6 forms are judged by the IPv4 address they lead to', () => {
  const cases: [string, string][] = [
    ['::ffff:127.0.0.1', 'ipv4Mapped:loopback'],
    ['::ffff:7f00:1', 'ipv4Mapped:loopback'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'ipv4Mapped:linkLocal'],
    ['::ffff:10.0.0.1', 'ipv4Mapped:private'],
    ['64:ff9b::7f00:1', 'rfc6052:loopback'],
    ['64:ff9b::192.168.0.1', 'rfc6052:private'],
    ['2002:a00:1::1', '6to4:private'],
    ['2002:7f00:1::', '6to4:loopback'],
    // Teredo: a public server (65.54.227.120) and a client 127.0.0.1 stored inverted.
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'teredo:loopback'],
    // Teredo with a private server address.
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'teredo:private'],
  ];
  for (const [address, range] of cases) assert.equal(rangeOf(address), range, address);
  const mapped = policy.check('::ffff:127.0.0.1');
  assert.ok(!mapped.allowed);
  assert.match(mapped.reason, /127\.0\.0\.1, which is loopback/);
  for (const address of ['::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])
    assert.equal(rangeOf(address), 'allowed', address);
});

test('text that is not a plain address is refused', () => {
  for (const text of ['2130706433', '0x7f.1', '127.1', '0177.0.0.1', 'localhost', '', ' 8.8.8.8', '[::1]'])
    assert.equal(rangeOf(text), 'invalid', JSON.stringify(text));
  assert.equal(rangeOf('fe80::1%eth0'), 'zoned');
  assert.equal(rangeOf('2606:4700::1%1'), 'zoned');
});

test('the allow-list opens exactly what it names', () => {
  const open = createAddressPolicy({ allowList: ['127.0.0.1/32', '10.20.0.0/16', 'fd12::/64'] });
  for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.20.3.4', 'fd12::5', '8.8.8.8'])
    assert.equal(open.check(address).allowed, true, address);
  for (const address of ['127.0.0.2', '::1', '10.21.0.1', 'fd13::1', '169.254.169.254'])
    assert.equal(open.check(address).allowed, false, address);
  const mapped = createAddressPolicy({ allowList: ['::ffff:127.0.0.0/104'] });
  assert.equal(mapped.check('127.0.0.9').allowed, true);
  assert.throws(() => createAddressPolicy({ allowList: ['127.0.0.1'] }), /127\.0\.0\.1 is not a CIDR/);
});

test('a refusal says what the address is', () => {
  const verdict = policy.check('169.254.169.254');
  assert.ok(!verdict.allowed);
  assert.match(verdict.reason, /^169\.254\.169\.254 is link-local .*metadata/);
});
