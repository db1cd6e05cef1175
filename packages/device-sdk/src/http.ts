/** The device side of the HTTPS API: JSON requests with the pinned CA, a bearer or a client certificate. */
import { Agent, request } from 'node:https';

export class DeviceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly retryAfterMs?: number,
  ) {
    super(`${code} (${status}): ${detail}`);
    this.name = 'DeviceApiError';
  }
  /** Whether trying again later can succeed (the server or the network, not the request). */
  get transient(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 0;
  }
}

export interface HttpTarget {
  /** `https://host:port` of the platform. */
  url: string;
  /** The platform CA (PEM) the firmware pins. */
  ca: string;
  /** TLS server name when `url` uses an address (default: the URL's host). */
  servername?: string;
}

const agents = new WeakMap<HttpTarget, Agent>();

export function httpJson<T>(
  target: HttpTarget,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    clientCert?: { key: string; cert: string };
    timeoutMs?: number;
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  let agent = agents.get(target);
  if (!agent) agents.set(target, (agent = new Agent({ keepAlive: true, maxSockets: 2, ca: target.ca })));
  const url = new URL(path, target.url);
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: target.ca,
        ...(target.servername ? { servername: target.servername } : {}),
        ...(opts.clientCert ?? {}),
        agent: opts.clientCert ? false : agent,
        timeout: opts.timeoutMs ?? 90_000,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> = {};
          try {
            body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            /* not JSON */
          }
          const status = res.statusCode ?? 0;
          if (status >= 400)
            return reject(
              new DeviceApiError(
                status,
                typeof body.code === 'string' ? body.code : 'HTTP_ERROR',
                typeof body.detail === 'string' ? body.detail : text.slice(0, 200),
                typeof body.retryAfterMs === 'number' ? body.retryAfterMs : undefined,
              ),
            );
          resolve(body as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    opts.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
    req.on('error', (e) => reject(new DeviceApiError(0, 'UNREACHABLE', e.message)));
    if (payload) req.write(payload);
    req.end();
  });
}
