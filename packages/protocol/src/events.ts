/** Device events (`d/{deviceId}/events`): alarms, logs, failure and crash reports. */
import { Type, type Static } from '@sinclair/typebox';
import { TimestampMsSchema, parseTimestamp, type ParseResult, type TelemetryRefusal } from './telemetry.js';

export const EVENT_SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type EventSeverity = (typeof EVENT_SEVERITIES)[number];

export const EVENT_LIMITS = {
  maxTypeLength: 64,
  maxMessageLength: 1024,
  /** Largest `data` document, in bytes of JSON. */
  maxDataBytes: 8 * 1024,
} as const;

export const DeviceEventSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: EVENT_LIMITS.maxTypeLength }),
    severity: Type.Optional(Type.Union(EVENT_SEVERITIES.map((s) => Type.Literal(s)))),
    message: Type.Optional(Type.String({ maxLength: EVENT_LIMITS.maxMessageLength })),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    ts: Type.Optional(Type.Union([TimestampMsSchema, Type.String({ format: 'date-time' })])),
  },
  { additionalProperties: false },
);
export type DeviceEventPayload = Static<typeof DeviceEventSchema>;

export interface DeviceEvent {
  ts: number;
  type: string;
  severity: EventSeverity;
  message: string | null;
  data: Record<string, unknown> | null;
}

const FIELDS = new Set(['type', 'severity', 'message', 'data', 'ts']);

function refuse(message: string, path: string): { ok: false; error: TelemetryRefusal } {
  return { ok: false, error: { code: 'INVALID_TELEMETRY', message, path } };
}

/** Validates a decoded event payload; `now` stamps events without `ts`. */
export function parseDeviceEvent(body: unknown, now: number): ParseResult<DeviceEvent> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return refuse('an event must be an object', '');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) return refuse(`unknown field '${k}'`, `/${k}`);
  if (typeof o.type !== 'string' || o.type.length === 0 || o.type.length > EVENT_LIMITS.maxTypeLength) {
    return refuse(`type must be a string of 1 to ${EVENT_LIMITS.maxTypeLength} characters`, '/type');
  }
  const severity = o.severity ?? 'info';
  if (!EVENT_SEVERITIES.includes(severity as EventSeverity))
    return refuse(`severity must be one of ${EVENT_SEVERITIES.join(', ')}`, '/severity');
  if (
    o.message !== undefined &&
    (typeof o.message !== 'string' || o.message.length > EVENT_LIMITS.maxMessageLength)
  ) {
    return refuse(
      `message must be a string of at most ${EVENT_LIMITS.maxMessageLength} characters`,
      '/message',
    );
  }
  if (o.data !== undefined) {
    if (typeof o.data !== 'object' || o.data === null || Array.isArray(o.data))
      return refuse('data must be an object', '/data');
    if (Buffer.byteLength(JSON.stringify(o.data)) > EVENT_LIMITS.maxDataBytes) {
      return refuse(`data is limited to ${EVENT_LIMITS.maxDataBytes} bytes of JSON`, '/data');
    }
  }
  const ts = parseTimestamp(o.ts, now, '/ts');
  if (!ts.ok) return ts;
  return {
    ok: true,
    value: {
      ts: ts.value,
      type: o.type,
      severity: severity as EventSeverity,
      message: typeof o.message === 'string' ? o.message : null,
      data: (o.data as Record<string, unknown> | undefined) ?? null,
    },
  };
}
