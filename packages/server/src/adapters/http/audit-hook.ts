/**
 * One audit record per admin action, written with the action: every state-changing request made with
 * a person's or an API key's credential runs in one store transaction, and its record — actor, tenant,
 * target, outcome with the final status, source address and the request's fields with secrets
 * removed, and what the handler said the action came to (`request.auditResult`) — is appended to the tenant's chain inside that transaction before it commits, together
 * with the lifecycle events the services reported while handling it. The response leaves only after
 * the commit. So an action is kept with its record or not at all:
 *
 * - success (status < 400): the record is written and the transaction commits; when the record
 *   cannot be written, everything the action changed is rolled back and the client gets AUDIT_FAILED;
 * - refusal (4xx): the failure record commits with what the refusal itself wrote (a wrong-code attempt
 *   counts); a refusal whose fields cannot be stored is recorded without them;
 * - internal failure (5xx), or a transaction that cannot commit: everything is rolled back, and the
 *   failure is recorded on its own before the response. When the store itself is unreachable (down,
 *   restarting, the connection cut), the answer is 503 NOT_READY with `retryAfterMs`, not 500.
 *
 * Requests refused before their handler runs (schema validation) are recorded on their own before the
 * response, except those refused by a rate limit (429), which change nothing and would turn a flood into
 * audit writes. Routes marked `recordedByService` (invitation acceptance, password reset: no logged-in
 * caller) run in one transaction the same way, and the records their service reports commit with them. Routes marked `ownTransactions` (bulk work that commits in chunks, so as not to hold the
 * store for the whole batch) are recorded after the handler, before the response. Device data-plane
 * traffic (telemetry, provisioning by devices) is not an admin action and is not recorded here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { AppError } from '../../errors.js';
import { principalName } from '../../platform/caller.js';
import type { Logger } from '../../platform/observability.js';
import { isStoreUnavailable, type Db } from '../../store/db.js';
import { SECRET_FIELDS, type AuditEntry, type AuditService } from '../../domains/audit/audit.js';
import type { AuditWriter } from '../../domains/audit/writer.js';
import { storeUnavailable, toAppError } from './problem.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const AUDITED_MODES = new Set(['tenant', 'platform-admin', 'session']);

/**
 * A JSON object as parsed, or a query's dictionary (whose prototype may be a null-prototype object),
 * not a stream, a buffer or another class's instance. Judged by the prototype, never by a member: a
 * body may well hold a member named `constructor`.
 */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * The request's fields, secrets replaced, long values cut: a summary of what the action changed. A
 * body that is not JSON (an upload: a stream or bytes) is summarised by its type, never walked.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 3) return '…';
  if (Array.isArray(value))
    return value.length > 20 ? { items: value.length } : value.map((v) => redact(v, depth + 1));
  if (value instanceof Uint8Array) return { bytes: value.byteLength };
  if (value && typeof value === 'object' && !isPlainObject(value)) return '[not JSON]';
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint')
    return '[not JSON]';
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        SECRET_FIELDS.test(k) ? '[redacted]' : redact(v, depth + 1),
      ]),
    );
  }
  if (typeof value === 'string' && value.length > 256) return `${value.slice(0, 64)}…`;
  return value;
}

export interface AuditedRequestsDeps {
  db: Db;
  audit: Pick<AuditService, 'recordMany'>;
  writer: Pick<AuditWriter, 'takePending' | 'flush'>;
  logger: Logger;
}

/** A request whose handler runs in its transaction; the response waits for `settled`. */
interface InFlight {
  /** Called when the handler starts sending its response: the action is complete. */
  sending(): void;
  /** The error to answer with instead of the handler's response, if the action was not kept. */
  settled: Promise<AppError | undefined>;
  /** The handler has started sending (the answer then goes through `onSend`). */
  started: boolean;
  done: boolean;
}

type Handler = (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown;

/** Thrown inside the transaction to roll it back; the reason is dealt with outside. */
class RolledBack extends Error {
  constructor(readonly auditFailure: unknown) {
    super('rolled back');
  }
}

function audited(method: string | string[], mode: string | undefined): boolean {
  const methods = Array.isArray(method) ? method : [method];
  return methods.some((m) => MUTATING.has(m)) && mode !== undefined && AUDITED_MODES.has(mode);
}

/** The device a request acted on when its path does not name it first (a certificate by serial). */
const devicesOf = new WeakMap<FastifyRequest, string>();

/**
 * Names the device a request acted on, for its audit record: a record about a device has the device
 * as its target, or names it in `changes.deviceId` (what `GET /v1/audit?deviceId=` finds).
 */
export function auditAbout(request: FastifyRequest, deviceId: string): void {
  devicesOf.set(request, deviceId);
}

function entryFor(request: FastifyRequest, status: number): AuditEntry {
  const p = request.principal!;
  const params = (request.params ?? {}) as Record<string, string>;
  const target = Object.values(params)[0] ?? null;
  const deviceId = devicesOf.get(request) ?? params.deviceId;
  const tenantId = 'tenantId' in p ? p.tenantId : (params.tenantId ?? '');
  const raw = request.body ?? null;
  // An upload's fields are in its query (an artifact's version and class); its body is summarised.
  const body = (
    raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !isPlainObject(raw)
      ? { ...(redact(request.query ?? {}) as object), body: redact(raw) }
      : redact(raw)
  ) as Record<string, unknown> | null;
  return {
    tenantId,
    actor: principalName(p),
    action: `${request.method} ${request.routeOptions.url}`,
    target,
    outcome: status < 400 ? 'success' : 'failure',
    source: request.ip,
    changes: {
      status,
      ...(deviceId !== undefined && deviceId !== target ? { deviceId } : {}),
      ...(body && typeof body === 'object' ? { request: body } : {}),
      ...(request.auditResult ? { result: redact(request.auditResult) } : {}),
    },
  };
}

/** The same record without the request's fields, for fields the store cannot hold. */
function withoutRequest(entry: AuditEntry): AuditEntry {
  return { ...entry, changes: { status: entry.changes?.status ?? null, request: '[not storable]' } };
}

export function registerAuditedRequests(app: FastifyInstance, deps: AuditedRequestsDeps): void {
  const { db, audit, writer, logger } = deps;
  const inFlight = new WeakMap<FastifyRequest, InFlight>();
  const recordedApart = new WeakSet<FastifyRequest>();

  /** Appends a record in a transaction of its own (nothing was kept); never throws. */
  async function recordApart(entry: AuditEntry): Promise<void> {
    try {
      await audit.recordMany([entry]);
    } catch (first) {
      await audit.recordMany([withoutRequest(entry)]).catch((err: unknown) => {
        logger.error({ err, cause: first, action: entry.action }, 'audit records failed');
      });
    }
  }

  async function runAudited(
    request: FastifyRequest,
    reply: FastifyReply,
    run: () => unknown,
    how: { recordRequest: boolean; ownTransactions: boolean },
  ): Promise<unknown> {
    // Events reported while the request was authenticated (a key's first use from an address) come
    // before the request's own record.
    await writer.flush();
    let sending!: () => void;
    const sent = new Promise<void>((resolve) => (sending = resolve));
    let settle!: (answer: AppError | undefined) => void;
    const state: InFlight = {
      sending,
      settled: new Promise((resolve) => (settle = resolve)),
      started: false,
      done: false,
    };
    inFlight.set(request, state);

    let result: Promise<unknown> = Promise.resolve();
    let thrown: { error: unknown } | undefined;
    // The action is complete when the handler returns, throws, or starts sending its response (an
    // async handler that returns `reply` settles only once the response has left).
    const handle = async (): Promise<number> => {
      result = Promise.resolve().then(run);
      await Promise.race([
        result.then(
          () => undefined,
          (error: unknown) => void (thrown = { error }),
        ),
        sent,
      ]);
      return thrown ? toAppError(thrown.error as Error).error.status : reply.statusCode;
    };

    let answer: AppError | undefined;
    let status = 0;
    if (how.ownTransactions) {
      status = await handle();
      if (how.recordRequest) await recordApart(entryFor(request, status));
    } else {
      try {
        await db.transaction(async () => {
          status = await handle();
          if (status >= 500) throw new RolledBack(undefined);
          const entry = how.recordRequest ? entryFor(request, status) : undefined;
          const events = writer.takePending();
          try {
            await audit.recordMany(entry ? [...events, entry] : events);
          } catch (err) {
            if (status < 400 || !entry) throw new RolledBack(err);
            await audit.recordMany([...events, withoutRequest(entry)]);
          }
        });
      } catch (err) {
        // Nothing the request changed was kept. A refusal keeps its answer; a success does not.
        if (err instanceof RolledBack && err.auditFailure !== undefined) {
          logger.error(
            { err: err.auditFailure, reqId: request.id },
            'audit record failed: action rolled back',
          );
          // The store went away under the record: retry later (503), not a server fault (500).
          if (status < 400)
            answer = isStoreUnavailable(err.auditFailure) ? storeUnavailable() : new AppError('AUDIT_FAILED');
        } else if (!(err instanceof RolledBack) && status < 400) {
          if (isStoreUnavailable(err)) {
            logger.warn(
              { err: (err as Error).message, reqId: request.id },
              'store unavailable: answered 503',
            );
            answer = storeUnavailable();
          } else {
            logger.error({ err, reqId: request.id }, 'request transaction failed');
            answer = new AppError('INTERNAL');
          }
        }
        if (how.recordRequest) await recordApart(entryFor(request, answer ? answer.status : status));
      }
    }
    state.done = true;
    settle(answer);
    if (answer && !state.started) throw answer;
    return result;
  }

  app.addHook('onRoute', (route: RouteOptions) => {
    const recordRequest = audited(route.method, route.config?.auth);
    if (!recordRequest && route.config?.recordedByService !== true) return;
    const handler = route.handler as Handler;
    const ownTransactions = route.config?.ownTransactions === true;
    route.handler = function auditedHandler(this: FastifyInstance, request, reply) {
      const run = () => handler.call(this, request, reply);
      // Authentication ran in onRequest: an audited route without a principal refused already.
      if (recordRequest && !request.principal) return run();
      return runAudited(request, reply, run, { recordRequest, ownTransactions });
    } as RouteOptions['handler'];
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const state = inFlight.get(request);
    if (state) {
      if (state.done) return payload;
      state.started = true;
      state.sending();
      const answer = await state.settled;
      if (answer) throw answer;
      return payload;
    }
    // Refused before the handler ran (validation, media type, body size): nothing was changed. A
    // request refused by a rate limit (429) is not recorded: a flood must not become a write flood.
    if (
      request.principal &&
      reply.statusCode >= 400 &&
      reply.statusCode !== 429 &&
      !recordedApart.has(request) &&
      audited(request.method, request.routeOptions.config.auth)
    ) {
      recordedApart.add(request);
      await recordApart(entryFor(request, reply.statusCode));
    }
    return payload;
  });
}
