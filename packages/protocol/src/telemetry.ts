/**
 * Telemetry and event payloads as devices send them, with the documented limits. One parser serves
 * MQTT and HTTPS so both paths refuse the same input with the same code.
 */
import { Type, type Static } from '@sinclair/typebox';
import { parseStrictJson, type WireRefusalCode } from './json.js';

export const TELEMETRY_LIMITS = {
  /** Largest MQTT payload or HTTP body accepted for telemetry, in bytes. */
  maxPayloadBytes: 64 * 1024,
  /** Readings (timestamped groups of values) in one message. */
  maxReadingsPerMessage: 500,
  /** Distinct keys in one reading. */
  maxKeysPerReading: 64,
  /** Keys in one message, summed over its readings. */
  maxValuesPerMessage: 5_000,
  /** Length of a key: letters, digits, `_`, `-`, `.`. */
  maxKeyLength: 64,
  /** Length of a string value, in characters. */
  maxStringValueLength: 1_024,
  /** How far ahead of the server clock a reading may be stamped, in milliseconds. */
  maxFutureSkewMs: 5 * 60 * 1000,
  /** Earliest timestamp accepted (2000-01-01T00:00:00Z), in epoch milliseconds: a clockless device should omit `ts`. */
  minTimestampMs: Date.UTC(2000, 0, 1),
} as const;

const KEY_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Latest timestamp a schema documents (9999-12-31T23:59:59.999Z); the skew limit is tighter. */
const MAX_SCHEMA_TIMESTAMP_MS = 253_402_300_799_999;
export const TimestampMsSchema = Type.Integer({
  minimum: TELEMETRY_LIMITS.minTimestampMs,
  maximum: MAX_SCHEMA_TIMESTAMP_MS,
  description: 'epoch milliseconds',
});

export const TelemetryValueSchema = Type.Union([
  Type.Number({
    minimum: -Number.MAX_VALUE,
    maximum: Number.MAX_VALUE,
    description: 'any finite number (JSON numbers beyond a 64-bit float are refused)',
  }),
  Type.String(),
  Type.Boolean(),
]);
export const ReadingSchema = Type.Object(
  {
    ts: Type.Optional(Type.Union([TimestampMsSchema, Type.String({ format: 'date-time' })])),
    values: Type.Record(Type.String({ pattern: KEY_PATTERN.source }), TelemetryValueSchema),
  },
  { additionalProperties: false },
);
export const TelemetryPayloadSchema = Type.Union([ReadingSchema, Type.Array(ReadingSchema)], {
  description: 'One reading or an array of readings.',
});
export type TelemetryPayload = Static<typeof TelemetryPayloadSchema>;

export type TelemetryValue = number | string | boolean;

/** A reading after validation: a definite timestamp and its values. */
export interface Reading {
  ts: number;
  values: Record<string, TelemetryValue>;
}

export type TelemetryRefusal = {
  code:
    | 'INVALID_TELEMETRY'
    | 'TOO_MANY_READINGS'
    | 'TIMESTAMP_OUT_OF_RANGE'
    | 'PAYLOAD_TOO_LARGE'
    | WireRefusalCode;
  message: string;
  path?: string;
};

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: TelemetryRefusal };

function refuse(
  code: TelemetryRefusal['code'],
  message: string,
  path?: string,
): { ok: false; error: TelemetryRefusal } {
  return { ok: false, error: path === undefined ? { code, message } : { code, message, path } };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Decodes a raw payload (MQTT) into JSON, refusing oversize input and anything the strict JSON rule
 * refuses (`json.ts`): invalid UTF-8, a byte order mark, NUL or lone surrogates, duplicate member
 * names, non-finite numbers, nesting deeper than the limit.
 */
export function decodeJsonPayload(raw: Buffer | Uint8Array, maxBytes: number): ParseResult<unknown> {
  if (raw.byteLength > maxBytes) {
    return refuse('PAYLOAD_TOO_LARGE', `payload is ${raw.byteLength} bytes; the limit is ${maxBytes}`);
  }
  return parseStrictJson(raw);
}

/** Parses a reading or event `ts` (epoch ms or RFC 3339), defaulting to `now`, within the accepted range. */
export function parseTimestamp(ts: unknown, now: number, path: string): ParseResult<number> {
  let ms: number;
  if (ts === undefined) return { ok: true, value: now };
  if (typeof ts === 'number' && Number.isInteger(ts)) ms = ts;
  else if (typeof ts === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(ts)) ms = Date.parse(ts);
  else return refuse('INVALID_TELEMETRY', 'ts must be epoch milliseconds or an RFC 3339 date-time', path);
  if (!Number.isFinite(ms)) return refuse('INVALID_TELEMETRY', 'ts is not a valid date-time', path);
  if (ms < TELEMETRY_LIMITS.minTimestampMs) {
    return refuse(
      'TIMESTAMP_OUT_OF_RANGE',
      'ts is before 2000-01-01T00:00:00Z; omit ts if the device has no clock',
      path,
    );
  }
  if (ms > now + TELEMETRY_LIMITS.maxFutureSkewMs) {
    return refuse(
      'TIMESTAMP_OUT_OF_RANGE',
      `ts is more than ${TELEMETRY_LIMITS.maxFutureSkewMs / 1000} s ahead of the server clock`,
      path,
    );
  }
  return { ok: true, value: ms };
}

/**
 * Validates a decoded telemetry payload against the schema and limits. `now` (epoch ms) stamps readings
 * without `ts` and bounds the future skew.
 */
export function parseTelemetry(body: unknown, now: number): ParseResult<Reading[]> {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return refuse('INVALID_TELEMETRY', 'at least one reading is required', '');
  if (items.length > TELEMETRY_LIMITS.maxReadingsPerMessage) {
    return refuse(
      'TOO_MANY_READINGS',
      `${items.length} readings; the limit is ${TELEMETRY_LIMITS.maxReadingsPerMessage}`,
    );
  }
  const readings: Reading[] = [];
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const base = Array.isArray(body) ? `/${i}` : '';
    if (!isPlainObject(item)) return refuse('INVALID_TELEMETRY', 'a reading must be an object', base);
    for (const field of Object.keys(item)) {
      if (field !== 'ts' && field !== 'values') {
        return refuse('INVALID_TELEMETRY', `unknown field '${field}'`, `${base}/${field}`);
      }
    }
    const ts = parseTimestamp(item.ts, now, `${base}/ts`);
    if (!ts.ok) return ts;
    const values = item.values;
    if (!isPlainObject(values))
      return refuse('INVALID_TELEMETRY', 'values must be an object', `${base}/values`);
    const keys = Object.keys(values);
    if (keys.length === 0)
      return refuse('INVALID_TELEMETRY', 'values must hold at least one key', `${base}/values`);
    if (keys.length > TELEMETRY_LIMITS.maxKeysPerReading) {
      return refuse(
        'TOO_MANY_READINGS',
        `${keys.length} keys in one reading; the limit is ${TELEMETRY_LIMITS.maxKeysPerReading}`,
        `${base}/values`,
      );
    }
    total += keys.length;
    if (total > TELEMETRY_LIMITS.maxValuesPerMessage) {
      return refuse(
        'TOO_MANY_READINGS',
        `more than ${TELEMETRY_LIMITS.maxValuesPerMessage} values in one message`,
      );
    }
    for (const key of keys) {
      const path = `${base}/values/${key}`;
      if (key.length > TELEMETRY_LIMITS.maxKeyLength || !KEY_PATTERN.test(key)) {
        return refuse(
          'INVALID_TELEMETRY',
          `key must match ${KEY_PATTERN.source} and be at most ${TELEMETRY_LIMITS.maxKeyLength} characters`,
          path,
        );
      }
      const v = values[key];
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) return refuse('INVALID_TELEMETRY', 'numbers must be finite', path);
      } else if (typeof v === 'string') {
        if (v.length > TELEMETRY_LIMITS.maxStringValueLength) {
          return refuse(
            'INVALID_TELEMETRY',
            `string values are limited to ${TELEMETRY_LIMITS.maxStringValueLength} characters`,
            path,
          );
        }
      } else if (typeof v !== 'boolean') {
        return refuse('INVALID_TELEMETRY', 'a value must be a number, a string or a boolean', path);
      }
    }
    readings.push({ ts: ts.value, values: values as Record<string, TelemetryValue> });
  }
  return { ok: true, value: readings };
}
