/**
 * The HTTP adapter: one HTTPS listener for the REST API (/v1), the device API (/v1/device), MQTT over
 * WebSocket (/mqtt), health, metrics, the OpenAPI document and the web console's files (/console). Routes are thin: schema, then a call
 * into a service. Authentication happens once here, per the route's declared `auth` mode.
 */
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { createWebSocketStream } from 'ws';
import type { TLSSocket } from 'node:tls';
import { peerCertificateOf } from '../../platform/tls/peer.js';
import { refuseRenegotiation, withTlsPolicy } from '../../platform/tls/policy.js';
import { AppError, isAppError } from '../../errors.js';
import { isStoreUnavailable } from '../../store/db.js';
import type { Logger } from '../../platform/observability.js';
import type { Broker } from '../broker/broker.js';
import type { RouteContext } from './context.js';
import { sendProblem, toAppError } from './problem.js';
import { registerRoutes } from './routes/index.js';
import { registerAuditedRequests } from './audit-hook.js';
import { registerWireRules } from './wire-rules.js';
import { registerRequestLimits } from './request-limits.js';
import { registerConsole, type ConsoleBuild } from './console.js';
import { CSRF_HEADER, SAFE_METHODS, sessionCookieOf } from './session-cookie.js';
import { SESSION_TOKEN_PREFIX } from '../../domains/users/users.js';
import { OPENAPI_OPTIONS, registerOpenApi } from './openapi.js';
import { healthRoutes } from './routes/health.js';
import type { AuditService } from '../../domains/audit/audit.js';
import type { AuditWriter } from '../../domains/audit/writer.js';
import type { Config } from '../../config.js';
import {
  fastifyTimeoutOptions,
  guardSlowClients,
  httpsTimeoutOptions,
  type SlowClientSettings,
} from './slow-clients.js';
import { registerSecurityHeaders } from './security-headers.js';
import { registerSecurityTxt } from './security-txt.js';

/** The settings of the HTTPS listener's hygiene: slow clients, security headers, security.txt. */
export type HttpHygieneSettings = SlowClientSettings &
  Pick<Config, 'httpStrictTransportSecurity' | 'securityContact' | 'securityTxtExpires'>;

export interface HttpServerOptions extends RouteContext {
  tls: { cert: string; key: string };
  /** Trust for device client certificates (the device CAs and their CRLs). */
  clientTrust: { ca: string[]; crl?: string[] };
  broker: Broker;
  logger: Logger;
  /** The audit trail: admin requests are recorded in their own transaction (`audit-hook.ts`). */
  audit: { records: Pick<AuditService, 'recordMany'>; writer: AuditWriter };
  /** Whether the platform is ready to serve (false while starting or draining). */
  isReady(): boolean;
  /** The web console's files, served at /console. */
  consoleBuild: ConsoleBuild;
  hygiene: HttpHygieneSettings;
}

/** Largest request body outside the routes that set their own, in bytes. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

function makeAjv(coerce: boolean) {
  // Bodies are validated strictly (unknown fields refused, no type coercion); query strings and path
  // parameters are strings on the wire and are coerced to the declared types.
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: true,
    strict: false,
  });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

export async function createHttpServer(opts: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    https: {
      ...withTlsPolicy({ cert: opts.tls.cert, key: opts.tls.key, ...opts.clientTrust }),
      requestCert: true,
      rejectUnauthorized: false,
      ...httpsTimeoutOptions(opts.hygiene),
    },
    ...fastifyTimeoutOptions(opts.hygiene),
    loggerInstance: opts.logger.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    // Per-request access logs would drown device traffic; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    requestIdHeader: false,
    genReqId: () => `req_${Math.random().toString(36).slice(2, 12)}`,
    return503OnClosing: true,
    // A path whose percent-encoding is not UTF-8 (an encoded surrogate, a cut sequence) matches no
    // route; it is refused like any other text the platform cannot hold.
    frameworkErrors: (err, request, reply) =>
      sendProblem(
        request,
        reply,
        err.code === 'FST_ERR_BAD_URL'
          ? new AppError('INVALID_TEXT', 'the path is not valid percent-encoded UTF-8')
          : toAppError(err).error,
      ),
  });

  // Every HTTPS connection, WSS included, refuses renegotiation (see tls-policy.ts).
  app.server.on('secureConnection', refuseRenegotiation);
  guardSlowClients(app, opts.hygiene, DEFAULT_BODY_LIMIT);
  registerSecurityHeaders(app, opts.hygiene);

  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema),
  );

  // JSON only: a body in any other media type is refused with UNSUPPORTED_MEDIA_TYPE. Bodies, query
  // strings and path parameters pass the strict text and JSON rule before authentication runs.
  app.removeContentTypeParser('text/plain');
  // Requests per address before anything else, per credential after authentication (request-limits.ts).
  registerRequestLimits(app, opts.services.limits, opts.services.limitEvents);
  registerWireRules(app);
  // A route marked `streamedBody` (the firmware upload) gets an application/octet-stream body as the
  // request stream, read by its service under its own size cap; every other route refuses the type.
  app.addContentTypeParser('application/octet-stream', (request, payload, done) => {
    if (request.routeOptions.config.streamedBody) done(null, payload);
    else done(new AppError('UNSUPPORTED_MEDIA_TYPE', 'send Content-Type: application/json'));
  });

  await app.register(swagger, OPENAPI_OPTIONS);
  registerOpenApi(app);

  await app.register(websocket, {
    options: {
      maxPayload: 1024 * 1024,
      // MQTT over WebSocket uses the `mqtt` subprotocol [MQTT-6.0.0-3].
      handleProtocols: (protocols: Set<string>) => (protocols.has('mqtt') ? 'mqtt' : false),
    },
  });

  /**
   * Mutual TLS on the device API: the listener asks for a client certificate but does not require one
   * (people and apps have none); a device without a bearer credential is identified by the certificate
   * the TLS layer verified against the device CAs and their CRLs.
   */
  async function certificateDevice(socket: TLSSocket) {
    const peer = typeof socket.getPeerCertificate === 'function' ? peerCertificateOf(socket) : undefined;
    if (!peer)
      throw new AppError(
        'UNAUTHENTICATED',
        'send Authorization: Bearer <credential> or a client certificate',
      );
    if (!socket.authorized) {
      throw new AppError(
        'INVALID_CREDENTIALS',
        `the client certificate was not accepted: ${String(socket.authorizationError)}`,
      );
    }
    return opts.services.pki.authenticate(peer);
  }

  app.addHook('onRequest', async (request) => {
    const mode = request.routeOptions.config.auth;
    if (mode === undefined || mode === 'none') return;
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (mode === 'device') {
      request.device = token
        ? await opts.services.authenticateDevice(token)
        : await certificateDevice(request.raw.socket as TLSSocket);
      request.principal = {
        kind: 'device',
        deviceId: request.device.deviceId,
        tenantId: request.device.tenantId,
      };
      return;
    }
    if (mode === 'provisioning') {
      if (!token) throw new AppError('UNAUTHENTICATED', 'send Authorization: Bearer <credential>');
      request.provisioningToken = token;
      return;
    }
    // A browser's session cookie counts only when no Authorization header is sent at all: a program's
    // bearer credential is never mixed with what a browser adds on its own.
    const cookie = header === undefined ? sessionCookieOf(request) : undefined;
    if (!token && !cookie) throw new AppError('UNAUTHENTICATED', 'send Authorization: Bearer <credential>');
    if (cookie !== undefined && !cookie.startsWith(`${SESSION_TOKEN_PREFIX}_`))
      throw new AppError('INVALID_CREDENTIALS', 'the session cookie holds no session token');
    const principal = await opts.services.authenticateBearer(token ?? cookie!, request.ip);
    if (cookie !== undefined) {
      request.sessionCookie = true;
      // The cookie comes with every request the browser makes to this origin, whichever page caused
      // it: a change also needs the session's CSRF token, which only the console's own pages can read.
      const sessionId = 'sessionId' in principal ? principal.sessionId : undefined;
      const given = request.headers[CSRF_HEADER];
      if (
        !SAFE_METHODS.has(request.method) &&
        (sessionId === undefined ||
          !opts.csrf.matches(sessionId, typeof given === 'string' ? given : undefined))
      )
        throw new AppError(
          'CSRF_TOKEN_INVALID',
          given === undefined
            ? 'a change made with the session cookie needs the X-CSRF-Token header'
            : "the X-CSRF-Token header is not this session's CSRF token",
        );
    }
    if (mode === 'session' && principal.kind !== 'user' && principal.kind !== 'platform-admin') {
      throw new AppError('FORBIDDEN', 'this route needs a login session');
    }
    if (mode === 'platform-admin' && principal.kind !== 'platform-admin')
      throw new AppError('FORBIDDEN', 'this route is for platform administrators');
    if (mode === 'tenant' && (principal.kind === 'platform-admin' || principal.kind === 'device')) {
      throw new AppError(
        'FORBIDDEN',
        'this route needs a tenant credential (API key or tenant user session)',
      );
    }
    request.principal = principal;
  });

  app.addHook('onResponse', async (request, reply) => {
    opts.metrics.httpRequests.inc({
      route: request.routeOptions.url ?? 'unmatched',
      status: `${Math.floor(reply.statusCode / 100)}xx`,
    });
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { error, internal } = toAppError(err);
    if (internal) request.log.error({ err, reqId: request.id }, 'request failed');
    else if (isStoreUnavailable(err))
      request.log.warn({ err: err.message, reqId: request.id }, 'store unavailable: answered 503');
    else if (!isAppError(err)) request.log.debug({ err: err.message }, 'request refused');
    return sendProblem(request, reply, error);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
      new AppError('NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`),
    ),
  );

  app.get(
    '/mqtt',
    { websocket: true, config: { auth: 'none' }, schema: { hide: true } },
    (socket, request) => {
      // Over its address's cap of MQTT connections before CONNACK (adapters/broker/pre-auth.ts).
      if (!opts.broker.admit(request.socket, 'wss')) return void socket.terminate();
      const stream = createWebSocketStream(socket);
      stream.on('error', () => socket.terminate());
      opts.broker.handle(stream, { transport: 'wss', remoteAddress: request.ip, counted: request.socket });
    },
  );

  healthRoutes(app, opts);
  registerSecurityTxt(app, opts.hygiene);
  registerConsole(app, opts.consoleBuild);
  app.get('/openapi.json', { config: { auth: 'none' }, schema: { hide: true } }, async () => app.swagger());

  registerAuditedRequests(app, {
    db: opts.db,
    audit: opts.audit.records,
    writer: opts.audit.writer,
    logger: opts.logger.child({ component: 'audit' }),
  });
  registerRoutes(app, opts);
  return app;
}
