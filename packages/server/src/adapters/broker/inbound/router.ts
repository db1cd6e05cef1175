/**
 * Where device publishes go: each domain registers a route for its topic (`inbound/*.ts`), and the
 * publish path asks the router which one a topic names. A new device → cloud topic (configuration
 * reported, OTA progress) is a new route file, not a new branch in the broker.
 *
 * Patterns are topics with named levels, built from the protocol's topic contract:
 * `d/{deviceId}/commands/{commandId}/result`. `{deviceId}` must name the publishing connection's own
 * id: a device touches only its own namespace, so a topic of another device matches nothing. Other
 * named levels arrive in `params`, already checked to be text the store can hold.
 */
import type { PublishPacket } from 'aedes';
import type { ErrorCode } from '@mooring/protocol';
import type { DeviceSession } from '../session.js';

/** A device publish that matched a route, its payload decoded. */
export interface InboundMessage {
  session: DeviceSession;
  packet: PublishPacket;
  /** The pattern's named levels other than `{deviceId}`. */
  params: Readonly<Record<string, string>>;
  /** The decoded JSON payload. */
  payload: unknown;
  /** When the broker received it, UTC ms. */
  received: number;
}

/** What a route's handler returns after it refused a message (see `RefuseInbound`). */
export const REFUSED: unique symbol = Symbol('refused');
export type Refused = typeof REFUSED;

/**
 * Refuses one message: it is acknowledged and dropped, counted under `reason`, and explained by a
 * notice `{code, message, topic, path?}` on the device's `d/{id}/errors` topic.
 */
export type RefuseInbound = (
  message: InboundMessage,
  code: ErrorCode,
  text: string,
  reason: string,
  path?: string,
) => Refused;

export interface InboundRoute {
  /** The topic with named levels, e.g. `d/{deviceId}/telemetry`. */
  pattern: string;
  /** The `kind` label of `mooring_messages_in_total` for each accepted message. */
  kind: string;
  /**
   * Handles one message. The promise resolves when the message may be acknowledged (stored), or to
   * `REFUSED` after `refuse` was called. An `AppError` thrown synchronously refuses the payload as
   * invalid (`invalid_payload`, with its first path); a rejection closes the connection without a
   * PUBACK, so the client sends again (a store failure).
   */
  handle(message: InboundMessage, refuse: RefuseInbound): Promise<unknown> | Refused;
}

/** A route compiled for matching. */
export interface MatchedRoute {
  route: InboundRoute;
  /** The params of a topic split at `/` that this route matched. */
  paramsOf(levels: readonly string[]): Readonly<Record<string, string>>;
}

export interface InboundRouter {
  registerInbound(route: InboundRoute): void;
  /** The route a topic (split at `/`) published by `topicId` names, if any. */
  match(levels: readonly string[], topicId: string): MatchedRoute | undefined;
}

const DEVICE_ID = 'deviceId';
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

interface Compiled extends MatchedRoute {
  /** Per level: a literal, or the name of a parameter. */
  levels: ({ literal: string } | { param: string })[];
}

function compile(route: InboundRoute): Compiled {
  const levels = route.pattern.split('/').map((level) => {
    const named = /^\{(\w+)\}$/.exec(level);
    return named ? { param: named[1]! } : { literal: level };
  });
  if (!levels.some((l) => 'param' in l && l.param === DEVICE_ID))
    throw new Error(`inbound route '${route.pattern}' must name {${DEVICE_ID}}`);
  const named = levels.flatMap((l, i) =>
    'param' in l && l.param !== DEVICE_ID ? [[l.param, i] as const] : [],
  );
  return {
    route,
    levels,
    paramsOf:
      named.length === 0
        ? () => NO_PARAMS
        : (parts) => {
            const params: Record<string, string> = {};
            for (const [name, i] of named) params[name] = parts[i]!;
            return params;
          },
  };
}

export function createInboundRouter(): InboundRouter {
  const routes: Compiled[] = [];
  return {
    registerInbound(route) {
      if (routes.some((r) => r.route.pattern === route.pattern))
        throw new Error(`inbound route '${route.pattern}' is registered twice`);
      routes.push(compile(route));
    },
    match(parts, topicId) {
      for (const compiled of routes) {
        const { levels } = compiled;
        if (levels.length !== parts.length) continue;
        let ok = true;
        for (let i = 0; ok && i < levels.length; i++) {
          const level = levels[i]!;
          const part = parts[i]!;
          if ('literal' in level) ok = part === level.literal;
          else ok = level.param === DEVICE_ID ? part === topicId : part.length > 0;
        }
        if (ok) return compiled;
      }
      return undefined;
    },
  };
}
