/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4) for endpoints that ask for a bearer token: the token
 * is fetched from the endpoint's token URL through the same guarded outbound request as deliveries
 * (client_secret_basic), kept in memory until 30 s before it expires (a token that lives less than a
 * minute: for half its life), and dropped when the endpoint answers 401. Deliveries that need a token
 * at the same time wait for one fetch, not one each. Tokens are per node: several nodes each fetch
 * their own.
 */
import type { GuardedRequestOptions, GuardedResponse } from '../../platform/outbound/http.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { isOutboundError } from '../../platform/outbound/outbound-error.js';
import type { EndpointRow } from './store.js';

const EARLY_MS = 30_000;
const DEFAULT_LIFETIME_MS = 300_000;

export function createTokenCache(deps: {
  box: SecretBox;
  allowList: readonly string[];
  request: (url: string, options: GuardedRequestOptions) => Promise<GuardedResponse>;
  now?: () => number;
}) {
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { token: string; until: number; key: string }>();
  /** Fetches under way, by endpoint: the deliveries that need a token meanwhile share it. */
  const fetching = new Map<string, { key: string; token: Promise<string> }>();

  async function fetchToken(e: EndpointRow, a: Extract<EndpointRow['auth'], { type: 'oauth2' }>) {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (a.scope) form.set('scope', a.scope);
    if (a.audience) form.set('audience', a.audience);
    // RFC 6749 §2.3.1: the id and secret are form-encoded (a space is `+`), then joined for Basic.
    const basic = Buffer.from(
      `${formEncoded(a.clientId)}:${formEncoded(deps.box.open(a.clientSecret))}`,
    ).toString('base64');
    const answer = await deps.request(a.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${basic}`,
      },
      body: form.toString(),
      allowList: deps.allowList,
      maxResponseBytes: 16 * 1024,
      ...(e.ca_pem ? { ca: e.ca_pem } : {}),
    });
    if (answer.status !== 200) throw new Error(`the OAuth token endpoint answered ${answer.status}`);
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(answer.bodyExcerpt) as typeof parsed;
    } catch {
      throw new Error('the OAuth token endpoint answered something other than JSON');
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '')
      throw new Error('the OAuth token endpoint answered no access_token');
    const lifetime =
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0
        ? parsed.expires_in * 1000
        : DEFAULT_LIFETIME_MS;
    return { token: parsed.access_token, until: now() + lifetime - Math.min(EARLY_MS, lifetime / 2) };
  }

  return {
    async tokenFor(e: EndpointRow): Promise<string> {
      if (e.auth.type !== 'oauth2') throw new Error('not an OAuth endpoint');
      const a = e.auth;
      const key = `${a.tokenUrl} ${a.clientId} ${a.clientSecret}`;
      const held = cache.get(e.id);
      if (held && held.key === key && held.until > now()) return held.token;
      const pending = fetching.get(e.id);
      if (pending && pending.key === key) return pending.token;
      const token = fetchToken(e, a).then(
        (got) => {
          if (fetching.get(e.id)?.token === token) {
            fetching.delete(e.id);
            cache.set(e.id, { ...got, key });
          }
          return got.token;
        },
        (err: unknown) => {
          if (fetching.get(e.id)?.token === token) fetching.delete(e.id);
          throw isOutboundError(err)
            ? new Error(`the OAuth token request failed: ${err.code}: ${err.message}`)
            : err;
        },
      );
      fetching.set(e.id, { key, token });
      return token;
    },
    /** Drops the endpoint's token: the endpoint answered 401. */
    forget(endpointId: string): void {
      cache.delete(endpointId);
    },
  };
}

/** A value as application/x-www-form-urlencoded writes it. */
function formEncoded(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
