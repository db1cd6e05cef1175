/**
 * Which IP addresses an outbound connection may reach. A webhook or bridge target is chosen by a
 * tenant, so without this check a tenant could make the platform call its own loopback services, the
 * private network it runs in, or the cloud metadata endpoint (169.254.169.254) and read the answer
 * back from the delivery log (server-side request forgery). Only plain public unicast passes:
 * ipaddr.js names the special ranges, and every range it names is refused, not only the well-known
 * private ones, so a range added to it later is refused too.
 *
 * Addresses that carry an IPv4 address inside an IPv6 one are judged by that IPv4 address: an
 * IPv4-mapped address (::ffff:127.0.0.1) is the IPv4 host itself to a dual-stack socket, and NAT64
 * (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32) addresses are relayed to the IPv4 host they
 * embed. An operator allow-list of CIDRs lets named addresses through (a receiver on the operator's own
 * network, or the tests' loopback receiver); it is checked first.
 */
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

export type AddressVerdict =
  | { allowed: true; address: string }
  | {
      allowed: false;
      address: string;
      /** A stable name for the range: `loopback`, `private`, `linkLocal`, `ipv4Mapped:loopback`, ... */
      range: string;
      /** Says what the address is, for an error message or a delivery log. */
      reason: string;
    };

export interface AddressPolicy {
  /** Judges one address as a string (`127.0.0.1`, `::1`); anything that is not an IP address is refused. */
  check(address: string): AddressVerdict;
}

export interface AddressPolicyOptions {
  /** CIDRs let through whatever their range (`127.0.0.1/32`, `10.20.0.0/16`, `fd12::/64`). */
  allowList?: readonly string[];
}

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

const DESCRIPTIONS: Record<string, string> = {
  unspecified: 'the unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'link-local (this includes the cloud metadata address 169.254.169.254)',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT space (100.64.0.0/10)',
  private: 'a private address (RFC 1918)',
  reserved: 'reserved or documentation space',
  uniqueLocal: 'a unique-local address (fc00::/7)',
  deprecatedSiteLocal: 'a site-local address (fec0::/10)',
  ipv4Compatible: 'an IPv4-compatible IPv6 address (::/96, deprecated)',
  rfc6145: 'an IPv4-translated address (::ffff:0:0:0/96)',
  rfc6052: 'a local-use NAT64 address',
  zoned: 'a scoped address with a zone id',
  invalid: 'not an IP address',
};

/** ::/96 other than :: and ::1: the deprecated IPv4-compatible form, which ipaddr.js calls unicast. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');
/** The NAT64 well-known prefix: the IPv4 address is the last 32 bits. */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

function describe(range: string): string {
  return DESCRIPTIONS[range] ?? `in the ${range} range`;
}

/** The address, or null when the text is not a plain IP address (no zone, no short or numeric forms). */
function parse(address: string): Ip | null {
  const family = isIP(address);
  if (family === 4) return ipaddr.IPv4.parse(address);
  if (family !== 6 || address.includes('%')) return null;
  // ipaddr.js reads `::127.0.0.1` as IPv4-mapped; the URL parser serialises IPv6 as RFC 5952 says
  // (`::7f00:1`), which is the address the socket will use.
  return ipaddr.IPv6.parse(new URL(`http://[${address}]/`).hostname.slice(1, -1));
}

function ipv4FromBytes(bytes: number[]): ipaddr.IPv4 {
  return new ipaddr.IPv4(bytes.slice(0, 4));
}

/** The IPv4 addresses an IPv6 address carries and is delivered to, or null when it carries none. */
function embeddedIpv4(ip: ipaddr.IPv6, range: string): ipaddr.IPv4[] | null {
  const bytes = ip.toByteArray();
  switch (range) {
    case 'ipv4Mapped':
      return [ip.toIPv4Address()];
    case '6to4':
      return [ipv4FromBytes(bytes.slice(2, 6))];
    case 'teredo':
      // The Teredo server, and the client's address stored inverted in the last 32 bits (RFC 4380).
      return [ipv4FromBytes(bytes.slice(4, 8)), ipv4FromBytes(bytes.slice(12, 16).map((b) => b ^ 0xff))];
    case 'rfc6052':
      return ip.match(NAT64_WELL_KNOWN) ? [ipv4FromBytes(bytes.slice(12, 16))] : null;
    default:
      return null;
  }
}

/** IPv4-mapped addresses as their IPv4 address, so `::ffff:127.0.0.1` matches `127.0.0.1/32`. */
function unmap(ip: Ip): Ip {
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()
    ? (ip as ipaddr.IPv6).toIPv4Address()
    : ip;
}

function parseAllowList(cidrs: readonly string[]): [Ip, number][] {
  return cidrs.map((cidr) => {
    if (!ipaddr.isValidCIDR(cidr)) throw new Error(`outbound allow-list: ${cidr} is not a CIDR`);
    const [ip, bits] = ipaddr.parseCIDR(cidr);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
      return [(ip as ipaddr.IPv6).toIPv4Address(), bits - 96];
    return [ip, bits];
  });
}

interface Refusal {
  range: string;
  /** The embedded IPv4 address that was refused, for addresses judged by one. */
  inner?: ipaddr.IPv4;
}

/** Why an address is refused, or null when it is plain public unicast. */
function refusal(ip: Ip): Refusal | null {
  const range = ip.range();
  if (ip.kind() === 'ipv4') return range === 'unicast' ? null : { range };
  const v6 = ip as ipaddr.IPv6;
  if (range === 'unicast') return v6.match(IPV4_COMPATIBLE) ? { range: 'ipv4Compatible' } : null;
  const embedded = embeddedIpv4(v6, range);
  if (!embedded) return { range };
  for (const inner of embedded) {
    const innerRange = inner.range();
    if (innerRange !== 'unicast') return { range: `${range}:${innerRange}`, inner };
  }
  return null;
}

function matches(ip: Ip, [net, bits]: [Ip, number]): boolean {
  if (ip.kind() === 'ipv4' && net.kind() === 'ipv4')
    return (ip as ipaddr.IPv4).match(net as ipaddr.IPv4, bits);
  if (ip.kind() === 'ipv6' && net.kind() === 'ipv6')
    return (ip as ipaddr.IPv6).match(net as ipaddr.IPv6, bits);
  return false;
}

export function createAddressPolicy(options: AddressPolicyOptions = {}): AddressPolicy {
  const allowList = parseAllowList(options.allowList ?? []);
  return {
    check(address) {
      const ip = parse(address);
      if (!ip) {
        const range = address.includes('%') && isIP(address) === 6 ? 'zoned' : 'invalid';
        return { allowed: false, address, range, reason: `${address} is ${describe(range)}` };
      }
      const unmapped = unmap(ip);
      if (allowList.some((cidr) => matches(unmapped, cidr))) return { allowed: true, address };
      const refused = refusal(ip);
      if (!refused) return { allowed: true, address };
      const reason = refused.inner
        ? `${address} leads to ${refused.inner.toString()}, which is ${describe(refused.inner.range())}`
        : `${address} is ${describe(refused.range)}`;
      return { allowed: false, address, range: refused.range, reason };
    },
  };
}
