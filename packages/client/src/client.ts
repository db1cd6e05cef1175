/**
 * The Mooring REST client: HTTPS with kept-alive sockets, the platform CA (or the system store),
 * a bearer credential, JSON in and out, and `application/problem+json` answers turned into
 * `ApiError`s that carry the stable `code`. No dependency beyond Node.
 */
import { Agent, request } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { ERROR_CATALOGUE } from '@mooring/protocol';
import {
  OPERATIONS,
  pathOf,
  type OperationBody,
  type OperationName,
  type OperationParams,
  type OperationQuery,
  type OperationResponse,
} from './operations.js';

export interface ClientOptions {
  /** `https://host:port` (a path prefix is allowed). */
  baseUrl: string;
  /** A session token (`mst_…`) or an API key (`mk_…`). */
  token?: string;
  /** PEM of the CA to trust instead of the system store (the platform CA of a self-hosted server). */
  ca?: string;
  /** Per-request timeout in ms (default 60 s). */
  timeoutMs?: number;
  userAgent?: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  code: string;
  detail?: string;
  requestId?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

/** A refusal by the API, with its problem document. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** `httpStatus`: the answer's status line, which wins over a problem whose `status` is not it. */
  constructor(problem: Problem, httpStatus?: number) {
    super(problem.detail ?? problem.title ?? problem.code);
    this.name = 'ApiError';
    this.status = httpStatus ?? problem.status;
    this.code = problem.code;
    this.problem = problem;
  }
  /** What the catalogue says the code means and what to do about it. */
  get advice(): string | undefined {
    return (ERROR_CATALOGUE as Record<string, { description: string }>)[this.code]?.description;
  }
}

/** The server could not be reached or did not answer (no problem document). */
export class ConnectionError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ConnectionError';
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
  token?: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export class MooringClient {
  private readonly url: URL;
  private readonly agent: Agent | HttpAgent;

  constructor(private readonly opts: ClientOptions) {
    this.url = new URL(opts.baseUrl);
    this.agent =
      this.url.protocol === 'http:'
        ? new HttpAgent({ keepAlive: true, maxSockets: 8 })
        : new Agent({ keepAlive: true, maxSockets: 8, ...(opts.ca ? { ca: opts.ca } : {}) });
  }

  /** The same server with another credential. */
  withToken(token: string | undefined): MooringClient {
    return new MooringClient({
      ...this.opts,
      ...(token ? { token } : { token: undefined }),
    } as ClientOptions);
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request; JSON body in, the raw answer out. */
  raw(
    method: string,
    path: string,
    opts: {
      body?: unknown;
      /** Bytes sent as application/octet-stream instead of a JSON body (a firmware image). */
      bytes?: { stream: NodeJS.ReadableStream; length: number };
      query?: Query;
      headers?: Record<string, string>;
      token?: string | null;
    } = {},
  ): Promise<RawResponse> {
    const target = new URL(this.url.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined && v !== '') target.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const token = opts.token === null ? undefined : (opts.token ?? this.opts.token);
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      'user-agent': this.opts.userAgent ?? 'mooring-client',
      ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
      ...(opts.bytes
        ? { 'content-type': 'application/octet-stream', 'content-length': String(opts.bytes.length) }
        : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(opts.headers ?? {}),
    };
    const send = target.protocol === 'http:' ? httpRequest : request;
    return new Promise((resolve, reject) => {
      const req = send(
        target,
        { method, headers, agent: this.agent as Agent, timeout: this.opts.timeoutMs ?? 60_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', (e) =>
            reject(new ConnectionError(`the answer from ${target.host} broke off: ${e.message}`, e)),
          );
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`no answer within ${(this.opts.timeoutMs ?? 60_000) / 1000} s`)),
      );
      req.on('error', (e) => reject(new ConnectionError(`cannot reach ${target.origin}: ${e.message}`, e)));
      if (opts.bytes) {
        opts.bytes.stream.on('error', (e) => req.destroy(e));
        opts.bytes.stream.pipe(req);
        return;
      }
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** A JSON request; a problem answer throws ApiError. 204 yields undefined. */
  async call<T = unknown>(
    method: string,
    path: string,
    opts: {
      body?: unknown;
      bytes?: { stream: NodeJS.ReadableStream; length: number };
      query?: Query;
      headers?: Record<string, string>;
      token?: string | null;
    } = {},
  ): Promise<T> {
    const res = await this.raw(method, path, opts);
    const text = res.body.toString('utf8');
    const type = String(res.headers['content-type'] ?? '');
    if (res.status >= 400) {
      let problem: Problem | undefined;
      try {
        problem = JSON.parse(text) as Problem;
      } catch {
        /* not JSON */
      }
      throw new ApiError(
        problem && typeof problem.code === 'string'
          ? problem
          : {
              status: res.status,
              code: res.status >= 500 ? 'INTERNAL' : 'NOT_FOUND',
              detail: text.slice(0, 200),
            },
        res.status,
      );
    }
    if (res.status === 204 || text === '') return undefined as T;
    return (type.includes('json') ? JSON.parse(text) : text) as T;
  }

  /**
   * A named operation of the API: `op('getDevice', { deviceId })`. Path parameters, query and body are
   * typed by the operation's schemas (`@mooring/protocol`), and so is the answer (204: undefined).
   */
  op<N extends OperationName>(
    name: N,
    params: OperationParams<N> = {} as OperationParams<N>,
    opts: {
      body?: OperationBody<N>;
      query?: Partial<Record<keyof OperationQuery<N>, string | number | boolean | undefined>>;
      headers?: Record<string, string>;
      token?: string | null;
    } = {},
  ): Promise<OperationResponse<N>> {
    return this.call<OperationResponse<N>>(OPERATIONS[name][0], pathOf(name, params), opts as RequestOptions);
  }

  /** Every item of a cursor-paginated list. */
  async *paginate<T>(path: string, query: Query = {}, pageSize = 500): AsyncGenerator<T> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.call<Page<T>>('GET', path, { query: { ...query, limit: pageSize, cursor } });
      for (const item of page.items) yield item;
      if (!page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }
}
