/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4) for endpoints that ask for a bearer token: the token
 * is fetched from the endpoint's token URL through the same guarded outbound request as deliveries
 * (client_secret_basic), kept in memory until 30 s before it expires, and dropped when the endpoint
 * answers 401. Tokens are per node: several nodes each fetch their own.
 */
import type { GuardedRequestOptions, GuardedResponse } from '../../platform/outbound/http.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { EndpointRow } from './store.js';

const EARLY_MS = 30_000;
const DEFAULT_LIFETIME_S = 300;

export function createTokenCache(deps: {
  box: SecretBox;
  allowList: readonly string[];
  request: (url: string, options: GuardedRequestOptions) => Promise<GuardedResponse>;
  now?: () => number;
}) {
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { token: string; until: number; key: string }>();
  return {
    async tokenFor(e: EndpointRow): Promise<string> {
      if (e.auth.type !== 'oauth2') throw new Error('not an OAuth endpoint');
      const a = e.auth;
      const key = `${a.tokenUrl} ${a.clientId} ${a.clientSecret}`;
      const held = cache.get(e.id);
      if (held && held.key === key && held.until > now()) return held.token;
      const form = new URLSearchParams({ grant_type: 'client_credentials' });
      if (a.scope) form.set('scope', a.scope);
      if (a.audience) form.set('audience', a.audience);
      const basic = Buffer.from(
        `${encodeURIComponent(a.clientId)}:${encodeURIComponent(deps.box.open(a.clientSecret))}`,
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
      if (answer.status !== 200) throw new Error(`the token endpoint answered ${answer.status}`);
      let parsed: { access_token?: unknown; expires_in?: unknown };
      try {
        parsed = JSON.parse(answer.bodyExcerpt) as typeof parsed;
      } catch {
        throw new Error('the token endpoint answered something other than JSON');
      }
      if (typeof parsed.access_token !== 'string' || parsed.access_token === '')
        throw new Error('the token endpoint answered no access_token');
      const lifetime = typeof parsed.expires_in === 'number' ? parsed.expires_in : DEFAULT_LIFETIME_S;
      cache.set(e.id, { token: parsed.access_token, until: now() + lifetime * 1000 - EARLY_MS, key });
      return parsed.access_token;
    },
    forget(endpointId: string): void {
      cache.delete(endpointId);
    },
  };
}
