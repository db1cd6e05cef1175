/**
 * A webhook receiver for tests: HTTPS on 127.0.0.1 with its own CA, answering the verification
 * challenge, recording every request, and able to go down (connections refused) and come back on
 * the same port. `verifyStandardWebhook` is an independent verifier of the signature scheme.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { authority, leaf } from './test-pki.js';

export interface Received {
  method: string;
  /** The request's path (with its query). */
  path: string;
  headers: Record<string, string>;
  body: string;
  json: { type?: string; id?: string; challenge?: string; [k: string]: unknown };
  at: number;
}

/**
 * Verifies a Standard Webhooks signature with nothing but node:crypto: the id, timestamp and body
 * signed with HMAC-SHA256 under the secret's bytes, any of the space-separated `v1,` signatures
 * matching, the timestamp within `toleranceS` of now. Throws why it fails.
 */
export function verifyStandardWebhook(
  secret: string,
  headers: Record<string, string>,
  body: string,
  toleranceS = 300,
) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) throw new Error('missing webhook headers');
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceS) throw new Error('timestamp out of tolerance');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  const ok = sigs.split(' ').some((s) => {
    const [version, value] = s.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new Error('no signature matches');
}

export interface Receiver {
  url: string;
  port: number;
  ca: string;
  received: Received[];
  /** Events received (the verification challenges left out). */
  events(): Received[];
  /** The status events are answered with (200 by default); headers to add; the body (`ok` by default). */
  answer: { status: number; headers?: Record<string, string>; body?: string | Buffer };
  /** Holds every request open without answering (to kill the sender mid-request). */
  stall: boolean;
  /** Holds the requests it matches open without answering, as `stall` holds every request. */
  stallIf: ((r: Received) => boolean) | undefined;
  /** Requests held open by `stall` or `stallIf` and not yet answered. */
  held(): number;
  /** Answers every held request with 200 (and stops stalling). */
  release(): void;
  /**
   * When set, every request but the token endpoint's must carry exactly one of these `authorization`
   * headers, or it is answered 401 (and recorded all the same).
   */
  requireAuthorization: (() => string[]) | undefined;
  /** An OAuth 2.0 token endpoint at `/token` (client_secret_basic, grant_type=client_credentials). */
  oauth: {
    clientId: string;
    clientSecret: string;
    /** `expires_in` of the tokens issued; undefined: none given. */
    expiresIn: number | undefined;
    /** Answer this status (and no token) instead, when set. */
    failWith: number | undefined;
    /** Every token issued so far, in order. */
    issued: string[];
    /** Every request to the token endpoint, with its form fields. */
    requests: (Received & { form: Record<string, string> })[];
  };
  tokenUrl: string;
  /** Bearer headers of every token issued and not revoked. */
  bearers(): string[];
  /** Revokes every token issued so far: requests bearing them are answered 401. */
  revokeTokens(): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** A CA and a leaf for 127.0.0.1 signed by it (also used by the benchmark's receiver). */
export async function receiverCertificates() {
  const ca = await authority('CN=receiver test CA');
  const server = await leaf(ca, 'CN=127.0.0.1', 'server', [{ type: 'ip', value: '127.0.0.1' }]);
  return { ca: ca.pem, ...server };
}

export async function startReceiver(): Promise<Receiver> {
  const tls = await receiverCertificates();
  let server: Server | undefined;
  let port = 0;
  const held: ServerResponse[] = [];
  let revoked = 0;

  function token(req: IncomingMessage, res: ServerResponse, body: string, at: number) {
    const form = Object.fromEntries(new URLSearchParams(body));
    r.oauth.requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers as Record<string, string>,
      body,
      json: {},
      at,
      form,
    });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const basic = `Basic ${Buffer.from(
      `${encodeURIComponent(r.oauth.clientId)}:${encodeURIComponent(r.oauth.clientSecret)}`,
    ).toString('base64')}`;
    if (req.method !== 'POST' || req.headers.authorization !== basic)
      return json(401, { error: 'invalid_client' });
    if (form.grant_type !== 'client_credentials') return json(400, { error: 'unsupported_grant_type' });
    if (r.oauth.failWith !== undefined) return json(r.oauth.failWith, { error: 'server_error' });
    const issued = `tok-${r.oauth.issued.length + 1}-${Math.random().toString(36).slice(2)}`;
    r.oauth.issued.push(issued);
    json(200, {
      access_token: issued,
      token_type: 'Bearer',
      ...(r.oauth.expiresIn === undefined ? {} : { expires_in: r.oauth.expiresIn }),
    });
  }

  const r: Receiver = {
    url: '',
    tokenUrl: '',
    port: 0,
    ca: tls.ca,
    received: [],
    events: () => r.received.filter((x) => x.json.type !== 'webhook.verification'),
    answer: { status: 200 },
    stall: false,
    stallIf: undefined,
    held: () => held.length,
    release() {
      r.stall = false;
      r.stallIf = undefined;
      for (const res of held.splice(0)) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }
    },
    requireAuthorization: undefined,
    oauth: {
      clientId: 'mooring',
      clientSecret: 'client-secret',
      expiresIn: 3600,
      failWith: undefined,
      issued: [],
      requests: [],
    },
    bearers: () => r.oauth.issued.slice(revoked).map((x) => `Bearer ${x}`),
    revokeTokens() {
      revoked = r.oauth.issued.length;
    },
    async up() {
      server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const at = Date.now();
          if (req.url === '/token') return token(req, res, body, at);
          let json: Received['json'] = {};
          try {
            json = JSON.parse(body) as Received['json'];
          } catch {
            /* recorded as is */
          }
          const received: Received = {
            method: req.method ?? '',
            path: req.url ?? '',
            headers: req.headers as Record<string, string>,
            body,
            json,
            at,
          };
          r.received.push(received);
          if (r.stall || r.stallIf?.(received)) {
            held.push(res); // answered only by release()
            return;
          }
          const allowed = r.requireAuthorization?.();
          if (allowed && !allowed.includes(req.headers.authorization ?? '')) {
            res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
            res.end('unauthorized');
            return;
          }
          if (json.type === 'webhook.verification') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ challenge: json.challenge }));
            return;
          }
          res.writeHead(r.answer.status, { 'content-type': 'text/plain', ...(r.answer.headers ?? {}) });
          res.end(r.answer.body ?? 'ok');
        });
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', () => resolve()));
      port = (server.address() as AddressInfo).port;
      r.port = port;
      r.url = `https://127.0.0.1:${port}/hook`;
      r.tokenUrl = `https://127.0.0.1:${port}/token`;
    },
    async down() {
      const s = server;
      server = undefined;
      held.length = 0;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    close: () => r.down(),
  };
  await r.up();
  return r;
}
