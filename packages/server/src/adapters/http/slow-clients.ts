/**
 * Deadlines for slow HTTPS clients (slowloris and its kin), on the one listener that serves the REST
 * API, the device API, the console and MQTT over WebSocket. Every phase of a connection has one:
 *
 * | phase | deadline | enforced by |
 * |---|---|---|
 * | TLS handshake | `httpHandshakeTimeoutSeconds` | the TLS server (`handshakeTimeout`) |
 * | the first request's headers, from the end of the handshake | `httpHeadersTimeoutSeconds` | {@link guardSlowClients} (Node counts only from a request's first byte) |
 * | request line and headers, from the request's first byte | `httpHeadersTimeoutSeconds` | Node's HTTP server (`headersTimeout`) |
 * | body, from the end of the headers | `httpRequestTimeoutSeconds`; a large body (an upload, a factory batch) a minimum rate instead | {@link guardSlowClients} |
 * | nothing sent or read at all, during a request or between two | `httpIdleTimeoutSeconds` | the socket's inactivity timeout and the keep-alive timeout |
 *
 * The body rule is this module's own rather than Node's `requestTimeout`, which counts the whole
 * request against one fixed time: a 64 MiB firmware image over a slow uplink would be cut off, and a
 * time long enough for the largest image (4 GiB) would let any slow body hold a connection as long.
 * So an ordinary body (at most 256 KiB) must be complete within the request timeout of its headers,
 * and a large one (a route that streams its body, the artifact upload, or allows more than the
 * default body limit, the factory batch's 16 MiB) must deliver at least `httpUploadMinBytesPerSecond`
 * on average over every window of that length, whatever its size. Both kinds of route need a
 * credential, checked before the body is read: a refused request has its answer at once. Once the
 * answer has been sent, a body still arriving is one nobody reads (Node reads it to the end to keep
 * the connection): it gets the fixed deadline whatever the route. Time the server spends not reading
 * (what arrived waits in its buffer) is not counted against the client.
 *
 * A client past its deadline is disconnected: no answer is owed to a request that never arrived. An
 * upgrade to WebSocket leaves these rules once its headers are in (the WebSocket library turns the
 * socket's inactivity timeout off): the MQTT CONNECT deadline and keep-alive take over.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.js';

export type SlowClientSettings = Pick<
  Config,
  | 'httpHandshakeTimeoutSeconds'
  | 'httpHeadersTimeoutSeconds'
  | 'httpRequestTimeoutSeconds'
  | 'httpUploadMinBytesPerSecond'
  | 'httpIdleTimeoutSeconds'
>;

/** How often deadlines are checked, in ms: a deadline is met to within this (and at most 1 s). */
const checkEveryMs = (deadlineMs: number) => Math.max(50, Math.min(1000, Math.floor(deadlineMs / 4)));

/** The options of the HTTPS server (passed to `https.createServer` through Fastify's `https`). */
export function httpsTimeoutOptions(s: SlowClientSettings) {
  const headersMs = s.httpHeadersTimeoutSeconds * 1000;
  return {
    handshakeTimeout: s.httpHandshakeTimeoutSeconds * 1000,
    headersTimeout: headersMs,
    // Node's own whole-request timer is off: guardSlowClients keeps the body deadline.
    requestTimeout: 0,
    // Node checks the headers deadline on this interval (30 s by default, which would make a 10 s
    // deadline 40 s).
    connectionsCheckingInterval: checkEveryMs(headersMs),
  };
}

/** The options of the Fastify instance itself (it sets them on the server it creates). */
export function fastifyTimeoutOptions(s: SlowClientSettings) {
  return {
    // Socket inactivity (`server.setTimeout`) and the wait for the next request on a kept-alive one.
    connectionTimeout: s.httpIdleTimeoutSeconds * 1000,
    keepAliveTimeout: s.httpIdleTimeoutSeconds * 1000,
    // Off: see httpsTimeoutOptions.
    requestTimeout: 0,
  };
}

interface Watched {
  request: IncomingMessage;
  response: ServerResponse;
  /** When the headers were in. */
  since: number;
  /** The socket's bytes read at the start of the current rate window, and when it started. */
  windowBytes: number;
  windowStart: number;
}

/**
 * Keeps the first-request and body deadlines of every connection and request of `app` (see the
 * module comment); `defaultBodyLimit` is the limit of ordinary routes. The checks stop when the
 * server closes.
 */
export function guardSlowClients(
  app: FastifyInstance,
  s: SlowClientSettings,
  defaultBodyLimit: number,
): void {
  const deadlineMs = s.httpRequestTimeoutSeconds * 1000;
  const minBytesPerWindow = s.httpUploadMinBytesPerSecond * s.httpRequestTimeoutSeconds;
  const headersMs = s.httpHeadersTimeoutSeconds * 1000;
  const watched = new Set<Watched>();
  /** Connections through their handshake that have not yet sent a whole request head, and since when. */
  const fresh = new Map<Socket, number>();
  /** Requests of routes that take large bodies: the rate rule applies to them. */
  const large = new WeakSet<IncomingMessage>();

  app.server.on('secureConnection', (socket: Socket) => {
    fresh.set(socket, Date.now());
    socket.once('close', () => fresh.delete(socket));
  });
  app.server.on('upgrade', (request: IncomingMessage) => fresh.delete(request.socket));
  // Every request, routed or not, is watched from its headers on; the route (known a moment later,
  // long before the first check) says which rule applies.
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    fresh.delete(request.socket);
    const now = Date.now();
    const w: Watched = {
      request,
      response,
      since: now,
      windowBytes: request.socket.bytesRead,
      windowStart: now,
    };
    watched.add(w);
    const forget = () => watched.delete(w);
    request.once('end', forget);
    request.once('close', forget);
  });
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions;
    if (route.config.streamedBody || (route.bodyLimit ?? 0) > defaultBodyLimit) large.add(request.raw);
  });

  const check = () => {
    const now = Date.now();
    for (const [socket, since] of fresh) {
      if (now - since < headersMs) break; // in the order they came
      fresh.delete(socket);
      socket.destroy();
    }
    for (const w of watched) {
      const { request } = w;
      if (request.complete || request.socket.destroyed) {
        watched.delete(w);
        continue;
      }
      let late: boolean;
      if (large.has(request) && !w.response.writableFinished) {
        const read = request.socket.bytesRead;
        // What arrived waits in the request's buffer: the server is the slow one, not the client.
        if (request.readableLength > 0) {
          w.windowBytes = read;
          w.windowStart = now;
          continue;
        }
        if (now - w.windowStart < deadlineMs) continue;
        late = read - w.windowBytes < minBytesPerWindow;
        w.windowBytes = read;
        w.windowStart = now;
      } else late = now - w.since >= deadlineMs;
      if (late) {
        watched.delete(w);
        request.socket.destroy();
      }
    }
  };
  const timer = setInterval(check, checkEveryMs(Math.min(deadlineMs, headersMs)));
  timer.unref();
  app.server.once('close', () => clearInterval(timer));
}
