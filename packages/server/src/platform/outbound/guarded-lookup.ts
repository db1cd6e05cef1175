/**
 * Name resolution for outbound connections, with the address policy applied to what the name
 * resolves to. Checking a URL's host is not enough: `evil.example` may resolve to 127.0.0.1, or to a
 * public address when checked and to 127.0.0.1 a second later (DNS rebinding). So the check sits in
 * the one resolution the connection uses: this function is passed as the `lookup` option of
 * `net.connect` / `tls.connect` (undici passes `connect: { lookup }` on to them), every address the
 * name resolves to is checked, one refused address refuses the name (a resolver that mixes a public
 * and a private answer is not trusted with either), and the socket connects to exactly the addresses
 * that were checked. Note that `net.connect` does not call `lookup` for a host that is already an IP
 * address: such hosts are judged by `checkTargetUrl` first.
 */
import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy.js';
import { OutboundError } from './outbound-error.js';

/** Resolves a name to its addresses; injectable so tests can point a name anywhere without DNS. */
export type Resolver = (
  hostname: string,
  options: { family: 0 | 4 | 6; hints?: number },
) => Promise<LookupAddress[]>;

/** The system resolver, as `dns.lookup` uses it (hosts file, then DNS), every address at once. */
export const systemResolver: Resolver = (hostname, { family, hints }) =>
  dns.lookup(hostname, { all: true, family, ...(hints === undefined ? {} : { hints }) });

export interface GuardedLookupOptions {
  policy: AddressPolicy;
  resolve?: Resolver;
}

type LookupCallback = Parameters<LookupFunction>[2];

/** The error `dns.lookup` gives for a name with no address (of the asked family). */
function notFound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
}

function familyOf(options: LookupOptions | number | undefined): 0 | 4 | 6 {
  const family = typeof options === 'number' ? options : options?.family;
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/**
 * Resolves a name and checks every address; resolves to the addresses of the asked family, in the
 * resolver's order, or rejects with `OUTBOUND_ADDRESS_REFUSED` naming the host and the address.
 */
export async function resolveChecked(
  hostname: string,
  family: 0 | 4 | 6,
  options: GuardedLookupOptions & { hints?: number },
): Promise<LookupAddress[]> {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const literal = isIP(bare);
  const resolve = options.resolve ?? systemResolver;
  const found = literal
    ? [{ address: bare, family: literal }]
    : await resolve(bare, { family, ...(options.hints === undefined ? {} : { hints: options.hints }) });
  for (const { address } of found) {
    const verdict = options.policy.check(address);
    if (!verdict.allowed)
      throw new OutboundError(
        'OUTBOUND_ADDRESS_REFUSED',
        literal
          ? `refused: ${verdict.reason}`
          : `${bare} resolves to ${address}, which is refused: ${verdict.reason}`,
      );
  }
  const usable = found.filter((a) => family === 0 || a.family === family);
  if (usable.length === 0) throw notFound(bare);
  return usable;
}

/**
 * A `dns.lookup`-compatible function for the `lookup` option of `net.connect`, `tls.connect` and
 * undici's `connect`. It answers `all: true` (what Node asks for when it races IPv4 and IPv6) with
 * every checked address, and otherwise with the first one.
 */
export function createGuardedLookup(options: GuardedLookupOptions): LookupFunction {
  function lookup(
    hostname: string,
    lookupOptions: LookupOptions | number | LookupCallback,
    maybeCallback?: LookupCallback,
  ): void {
    const callback = typeof lookupOptions === 'function' ? lookupOptions : maybeCallback!;
    const opts = typeof lookupOptions === 'function' ? undefined : lookupOptions;
    const all = typeof opts === 'object' && opts.all === true;
    const hints = typeof opts === 'object' ? opts.hints : undefined;
    resolveChecked(hostname, familyOf(opts), { ...options, ...(hints === undefined ? {} : { hints }) }).then(
      (addresses) => {
        if (all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, all ? [] : '', 0),
    );
  }
  return lookup as LookupFunction;
}
