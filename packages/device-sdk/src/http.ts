/** The device side of the HTTPS API: JSON requests with the pinned CA, a bearer or a client certificate. */
import { request as httpRequest } from 'node:http';
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

/** How much of an error body is kept: enough for the platform's JSON error. */
const MAX_ERROR_BODY = 4_096;

/** The platform's JSON error (`code`, `detail`, `retryAfterMs`) from a refusal's body, or its start. */
function apiError(status: number, text: string): DeviceApiError {
  let body: Record<string, unknown> = {};
  try {
    body = (JSON.parse(text) as Record<string, unknown> | null) ?? {};
  } catch {
    /* not JSON */
  }
  return new DeviceApiError(
    status,
    typeof body.code === 'string' ? body.code : 'HTTP_ERROR',
    typeof body.detail === 'string' ? body.detail : text.slice(0, 200),
    typeof body.retryAfterMs === 'number' ? body.retryAfterMs : undefined,
  );
}

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
          const status = res.statusCode ?? 0;
          if (status >= 400) return reject(apiError(status, text));
          let body: Record<string, unknown> = {};
          try {
            body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            /* not JSON */
          }
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

export interface RangeResponse {
  /** 200 (the whole image: the server ignored `Range`), 206 (from `start`) or 416 (`start` is past the end). */
  status: number;
  /** The first byte of the body (from `Content-Range`; 0 with a 200). */
  start: number;
  /** The image's full size, when the server said it. */
  total?: number;
  body: AsyncIterable<Buffer>;
}

/**
 * GET `path` from byte `start` (`Range: bytes=start-`), as a stream: the device API's artifact
 * download. `https:` with the pinned CA, or `http:` (tests, a local mirror). A body that stalls for
 * `idleTimeoutMs` (default 60 s) fails, as does a refusal other than 416.
 */
export function httpRange(
  target: HttpTarget,
  path: string,
  start: number,
  opts: { token?: string; signal?: AbortSignal; idleTimeoutMs?: number } = {},
): Promise<RangeResponse> {
  const url = new URL(path, target.url);
  const send = url.protocol === 'http:' ? httpRequest : request;
  // The credential goes to the platform only, never to another host a path might name.
  const token = url.origin === new URL(target.url).origin ? opts.token : undefined;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'GET',
        ...(url.protocol === 'https:'
          ? { ca: target.ca, ...(target.servername ? { servername: target.servername } : {}) }
          : {}),
        agent: false,
        timeout: opts.idleTimeoutMs ?? 60_000,
        headers: {
          accept: 'application/octet-stream',
          ...(start > 0 ? { range: `bytes=${start}-` } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const range = /^bytes (\d+)-\d+\/(\d+)$/.exec(res.headers['content-range'] ?? '');
        const whole = /^bytes \*\/(\d+)$/.exec(res.headers['content-range'] ?? '');
        const length = Number(res.headers['content-length']);
        if (status === 200 || status === 206 || status === 416) {
          const total = range ? Number(range[2]) : whole ? Number(whole[1]) : status === 200 ? length : NaN;
          if (status === 416) res.resume();
          return resolve({
            status,
            start: status === 206 && range ? Number(range[1]) : status === 206 ? start : 0,
            ...(Number.isSafeInteger(total) ? { total } : {}),
            body: status === 416 ? (async function* () {})() : res,
          });
        }
        // The error body, up to MAX_ERROR_BODY: the rest is read and dropped.
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (c: Buffer) => {
          if (kept >= MAX_ERROR_BODY) return;
          chunks.push(c.subarray(0, MAX_ERROR_BODY - kept));
          kept += Math.min(c.length, MAX_ERROR_BODY - kept);
        });
        res.on('end', () => reject(apiError(status, Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.on('timeout', () => req.destroy(new Error('download stalled')));
    const abort = () => req.destroy(new Error('aborted'));
    opts.signal?.addEventListener('abort', abort, { once: true });
    req.on('close', () => opts.signal?.removeEventListener('abort', abort));
    req.on('error', (e) => reject(new DeviceApiError(0, 'UNREACHABLE', e.message)));
    req.end();
  });
}
