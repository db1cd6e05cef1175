/**
 * One outbound HTTP request to a tenant-chosen URL (a webhook delivery), made so the tenant cannot
 * turn it against the platform:
 * - the URL passes `checkTargetUrl` and every address its host resolves to passes the address policy,
 *   in the one resolution the connection uses (guarded-lookup.ts), so DNS rebinding finds no gap;
 * - redirects are returned, never followed: a 302 to http://127.0.0.1/ would otherwise walk around
 *   every check above (undici's `request` follows none unless a redirect interceptor is added);
 * - one deadline covers resolution, connect, TLS, headers and body, so a server that answers one byte
 *   a second cannot hold a worker; only an excerpt of the body is kept, the rest is not read;
 * - the server certificate is always verified, against the system roots or the target's own CA.
 * `guardedRequest` makes one connection per request. `createOutboundPool` keeps connections to a
 * target for the next request (a webhook endpoint gets many): each pooled connection was made through
 * the same checks (the address policy in its resolution, the CA, the certificate check) and stays
 * pinned to the address it was checked with; connections are kept per target URL origin, CA and
 * policy, so a changed URL or CA never reuses one, and an idle target's are closed.
 */
import { Agent, request } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createAddressPolicy } from './address-policy.js';
import { createGuardedLookup, type Resolver } from './guarded-lookup.js';
import { OutboundError, TLS_ERROR_CODE, isOutboundError } from './outbound-error.js';
import { checkTargetUrl, type OutboundScheme } from './url-policy.js';

export interface GuardedRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Deadline for the whole exchange, body included. */
  timeoutMs?: number;
  /** Bytes of the response body kept; the rest is not read. */
  maxResponseBytes?: number;
  /**
   * PEM of the CA (or CAs) the target's certificate must chain to. It replaces the system roots for
   * this request: a tenant that names its own CA trusts that CA, not every public one as well.
   */
  ca?: string;
  /** Operator CIDRs let through the address policy (see address-policy.ts). */
  allowList?: readonly string[];
  /** Allows plain http: targets as well as https:. */
  allowHttp?: boolean;
  /** Name resolution, for tests; the system resolver by default. */
  resolve?: Resolver;
}

export interface GuardedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The first `maxResponseBytes` of the body as UTF-8 text. */
  bodyExcerpt: string;
  /** The body went on past the excerpt. */
  truncated: boolean;
  /** From the start of the call until the excerpt was read. */
  latencyMs: number;
}

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4096;

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 8; e = (e as Error).cause)
    chain.push(e);
  return chain;
}

/** Every failure as an OutboundError with a stable code; the cause is kept for logs, not for callers. */
function classify(error: unknown, host: string): OutboundError {
  const chain = causes(error);
  const known = chain.find(isOutboundError);
  if (known) return known;
  const codes = chain.map((e) => String((e as { code?: unknown }).code ?? ''));
  const described = codes.find((c) => c !== '') ?? (error as Error).message;
  if (codes.some((c) => TIMEOUT_CODES.has(c)))
    return new OutboundError('OUTBOUND_TIMEOUT', `${host} did not answer in time`, { cause: error });
  if (codes.some((c) => TLS_ERROR_CODE.test(c)))
    return new OutboundError('OUTBOUND_TLS_FAILED', `TLS with ${host} failed: ${described}`, {
      cause: error,
    });
  return new OutboundError('OUTBOUND_CONNECTION_FAILED', `the request to ${host} failed: ${described}`, {
    cause: error,
  });
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number`);
  return value;
}

/** What a request needs before it connects: the checked target and the connection's options. */
function prepare(url: string, options: GuardedRequestOptions) {
  const timeoutMs = positive(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes < 0)
    throw new TypeError('maxResponseBytes must be a whole number');
  const policy = createAddressPolicy({ allowList: options.allowList ?? [] });
  const schemes: OutboundScheme[] = options.allowHttp ? ['https', 'http'] : ['https'];
  const target = checkTargetUrl(url, { schemes, policy });
  const lookup = createGuardedLookup({ policy, ...(options.resolve ? { resolve: options.resolve } : {}) });
  const agentOptions = (connections: number, keepAliveMs?: number): Agent.Options => ({
    connect: {
      lookup,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      timeout: timeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections,
    ...(keepAliveMs === undefined ? {} : { keepAliveTimeout: keepAliveMs, keepAliveMaxTimeout: keepAliveMs }),
  });
  return { target, timeoutMs, maxBytes, agentOptions };
}

/** Sends the request through `agent` under one deadline and reads at most an excerpt of the answer. */
async function exchange(
  prepared: ReturnType<typeof prepare>,
  agent: Agent,
  options: GuardedRequestOptions,
  started: number,
): Promise<GuardedResponse> {
  const { target, timeoutMs, maxBytes } = prepared;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new OutboundError(
        'OUTBOUND_TIMEOUT',
        `${target.host} did not answer within ${timeoutMs} ms`,
      );
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });

  const send = async (): Promise<GuardedResponse> => {
    const response = await request(target.url, {
      dispatcher: agent,
      method: (options.method ?? 'POST') as 'POST',
      headers: options.headers ?? {},
      body: options.body ?? null,
      signal: controller.signal,
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      const room = maxBytes - kept;
      if (chunk.length > room) {
        if (room > 0) chunks.push(chunk.subarray(0, room));
        kept += Math.max(room, 0);
        truncated = true;
        break;
      }
      chunks.push(chunk);
      kept += chunk.length;
    }
    // An answer not read to its end leaves its connection unusable: it is closed, never reused.
    if (truncated) response.body.destroy();
    return {
      status: response.statusCode,
      headers: response.headers,
      bodyExcerpt: Buffer.concat(chunks).toString('utf8'),
      truncated,
      latencyMs: Math.round(performance.now() - started),
    };
  };

  try {
    return await Promise.race([send(), deadline]);
  } catch (error) {
    throw classify(error, target.host);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends one request and reads at most an excerpt of the answer. Any status, 3xx included, is a
 * response; a refused target, a timeout, a TLS failure or a failed connection throws an
 * OutboundError (`OUTBOUND_URL_REFUSED`, `OUTBOUND_ADDRESS_REFUSED`, `OUTBOUND_TIMEOUT`,
 * `OUTBOUND_TLS_FAILED`, `OUTBOUND_CONNECTION_FAILED`). Its connection is closed afterwards.
 */
export async function guardedRequest(
  url: string,
  options: GuardedRequestOptions = {},
): Promise<GuardedResponse> {
  const started = performance.now();
  const prepared = prepare(url, options);
  const agent = new Agent(prepared.agentOptions(1));
  try {
    return await exchange(prepared, agent, options, started);
  } finally {
    // Closes the connection at once, whether or not the body was read to its end.
    await agent.destroy().catch(() => undefined);
  }
}

export interface OutboundPoolOptions {
  /** Connections at most per target (requests beyond wait for one, within their deadline). */
  connectionsPerTarget?: number;
  /** An idle connection is closed after this long; a target unused this long loses its agent. */
  idleMs?: number;
  /** Targets with connections kept at once; the least recently used is closed beyond. */
  maxTargets?: number;
}

export interface OutboundPool {
  /** `guardedRequest`, on a kept connection to the same target when there is one. */
  request(url: string, options?: GuardedRequestOptions): Promise<GuardedResponse>;
  /** Connections made so far (for tests and metrics). */
  readonly connectionsMade: number;
  close(): Promise<void>;
}

export function createOutboundPool(o: OutboundPoolOptions = {}): OutboundPool {
  const perTarget = o.connectionsPerTarget ?? 4;
  const idleMs = o.idleMs ?? 30_000;
  const maxTargets = o.maxTargets ?? 256;
  // Insertion order is use order: a used agent is moved to the end.
  const agents = new Map<string, { agent: Agent; usedAt: number }>();
  // A resolver other than the system's (tests) is part of the key: by identity, numbered.
  const resolvers = new WeakMap<Resolver, number>();
  let resolverCount = 0;
  let made = 0;
  const keyOf = (origin: string, options: GuardedRequestOptions) => {
    let resolver = 0;
    if (options.resolve) {
      resolver = resolvers.get(options.resolve) ?? ++resolverCount;
      resolvers.set(options.resolve, resolver);
    }
    return JSON.stringify([
      origin,
      options.ca ?? null,
      options.allowList ?? [],
      !!options.allowHttp,
      resolver,
    ]);
  };
  const drop = (key: string) => {
    const entry = agents.get(key);
    if (!entry) return;
    agents.delete(key);
    void entry.agent.close().catch(() => undefined);
  };
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [key, entry] of agents) if (now - entry.usedAt > idleMs) drop(key);
  }, idleMs);
  sweep.unref();

  return {
    get connectionsMade() {
      return made;
    },
    async request(url, options = {}) {
      const started = performance.now();
      const prepared = prepare(url, options);
      const key = keyOf(prepared.target.url.origin, options);
      let entry = agents.get(key);
      if (entry) agents.delete(key);
      else {
        const agent = new Agent(prepared.agentOptions(perTarget, idleMs));
        agent.on('connect', () => made++);
        entry = { agent, usedAt: started };
      }
      entry.usedAt = started;
      agents.set(key, entry);
      while (agents.size > maxTargets) drop(agents.keys().next().value!);
      return exchange(prepared, entry.agent, options, started);
    },
    async close() {
      clearInterval(sweep);
      const all = [...agents.values()];
      agents.clear();
      await Promise.all(all.map((e) => e.agent.destroy().catch(() => undefined)));
    },
  };
}
