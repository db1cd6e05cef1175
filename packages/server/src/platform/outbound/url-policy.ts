/**
 * The first check on an outbound target, when a tenant saves it and again before each use: a URL
 * the caller's feature may speak (https for webhooks, http only where the operator allows it,
 * mqtt/mqtts for the bridge), with a host, a usable port and no credentials in it (they would end in
 * logs and delivery records; a receiver authenticates deliveries by their signature instead).
 *
 * The host is taken as Node's URL parser normalises it for http and https, so an address written in
 * any form that parser accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, percent-encoded digits,
 * `[::ffff:7f00:1]`) is judged as the dotted or RFC 5952 address it means, and refused when the policy
 * refuses it. mqtt and mqtts are not special schemes to that parser and keep such hosts as opaque text;
 * they are normalised the same way here, so the bridge and the webhooks judge one host alike.
 * A name is only judged by the addresses it resolves to, when connecting (see guarded-lookup.ts).
 */
import { isIP } from 'node:net';
import type { AddressPolicy } from './address-policy.js';
import { OutboundError } from './outbound-error.js';

export type OutboundScheme = 'https' | 'http' | 'mqtts' | 'mqtt';

const DEFAULT_PORTS: Record<OutboundScheme, number> = { https: 443, http: 80, mqtts: 8883, mqtt: 1883 };

export interface TargetUrlOptions {
  /** The schemes this caller speaks; anything else is refused. Webhooks pass `['https']`. */
  schemes: readonly OutboundScheme[];
  /** Judges a host written as an IP address. */
  policy: AddressPolicy;
}

export interface TargetUrl {
  /** The parsed URL, its host normalised. */
  url: URL;
  scheme: OutboundScheme;
  /** The host to connect to: a DNS name, or an IP address without brackets. */
  host: string;
  /** The host is an IP address (already judged by the policy), not a name to resolve. */
  isIpAddress: boolean;
  /** The port to connect to, the scheme's default when the URL names none. */
  port: number;
}

function refuse(detail: string): never {
  throw new OutboundError('OUTBOUND_URL_REFUSED', detail);
}

/**
 * The host as the WHATWG parser reads it for http: IPv4 in every accepted notation becomes dotted
 * decimal, percent-encoding is decoded, names are lowercased and punycoded. Null when not a valid host.
 */
function normaliseHost(host: string): string | null {
  if (host === '') return null;
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
}

/** Names that always mean this machine (RFC 6761), refused before any lookup. */
function isLocalhostName(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  return name === 'localhost' || name.endsWith('.localhost');
}

/** Parses and checks a target URL; throws an OutboundError `OUTBOUND_URL_REFUSED` saying what is wrong. */
export function checkTargetUrl(raw: string, options: TargetUrlOptions): TargetUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    refuse('not a valid absolute URL');
  }
  const scheme = url.protocol.slice(0, -1) as OutboundScheme;
  if (!options.schemes.includes(scheme))
    refuse(
      `the scheme ${scheme}: is not allowed here; use ${options.schemes.map((s) => `${s}:`).join(' or ')}`,
    );
  if (url.username !== '' || url.password !== '')
    refuse('the URL carries a user name or password; remove them');

  const hostname = normaliseHost(url.hostname);
  if (hostname === null) refuse('the URL has no valid host');
  if (hostname !== url.hostname) url.hostname = hostname;
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  const isIpAddress = isIP(bare) !== 0;
  if (isIpAddress) {
    const verdict = options.policy.check(bare);
    if (!verdict.allowed) throw new OutboundError('OUTBOUND_ADDRESS_REFUSED', `refused: ${verdict.reason}`);
  } else if (isLocalhostName(bare)) {
    throw new OutboundError('OUTBOUND_ADDRESS_REFUSED', `refused: ${bare} names this machine`);
  }

  const port = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) refuse(`the port ${url.port} is not valid`);
  return { url, scheme, host: bare, isIpAddress, port };
}
