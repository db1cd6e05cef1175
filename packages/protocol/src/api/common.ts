/**
 * The building blocks of the REST API's schemas: one TypeBox schema serves the server (validation and
 * the OpenAPI document) and the client (the request and answer types of each named operation).
 */
import { ERROR_CODES } from '../errors.js';
import { Type, type ObjectOptions, type Static, type TProperties, type TSchema } from '@sinclair/typebox';

/**
 * Every number a request carries declares its range, so that no value past what the store or the
 * clock can hold reaches a service (a test walks the OpenAPI document for this). Services apply their
 * own, usually lower, limits on top.
 */
/** Longest lifetime or age a request may name (ten years), in seconds. */
export const MAX_DURATION_SECONDS = 10 * 365 * 86_400;
/** Latest instant a request may name, 9999-12-31T23:59:59.999Z, in epoch milliseconds. */
export const MAX_EPOCH_MS = 253_402_300_799_999;

/** An RFC 3339 date-time (section 5.6), the seconds optional: `2025-01-02T03:04:05.678+01:00`. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An instant a query names (the audit query's `from`, a device filter's `lastSeenBefore`): epoch
 * milliseconds or an RFC 3339 date-time, within ±`MAX_EPOCH_MS`; undefined when it is neither. Only
 * those two forms: `Date.parse` alone takes `-1` for 2001 and `2020` for a year.
 */
export function parseInstant(text: string): number | undefined {
  const ms = /^\d+$/.test(text) ? Number(text) : RFC3339.test(text) ? Date.parse(text) : NaN;
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_EPOCH_MS ? ms : undefined;
}

/** An instant in an answer, in epoch milliseconds. */
export const EpochMs = Type.Integer({ minimum: 0, maximum: MAX_EPOCH_MS, description: 'epoch milliseconds' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const NullableEpochMs = Nullable(EpochMs);
/** An object an answer carries whose members are not fixed (metadata, attributes, changes). */
export const OpenObject = (description: string) =>
  Type.Record(Type.String(), Type.Unknown(), { description });

/** An id in a path. */
export const IdParam = Type.String({ maxLength: 64 });
export const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:=-]+$' });
export const Cursor = Type.String({ maxLength: 512 });
export const PageLimit = Type.Integer({ minimum: 1, maximum: 500 });

/** An answer object: exactly these members. */
export const Answer = <T extends TProperties>(props: T, opts: ObjectOptions = {}) =>
  Type.Object(props, { additionalProperties: false, ...opts });

/** A list with all of its items. */
export const ItemsOf = <T extends TSchema>(item: T) => Answer({ items: Type.Array(item) });
/** One page of a cursor-paginated list. */
export const PageOf = <T extends TSchema>(item: T) =>
  Answer({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'pass back as `cursor` for the next page; null on the last page',
    }),
  });

/** The problem+json body every HTTP error carries (RFC 9457), plus Mooring's stable `code`. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'a URI naming the code' }),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    code: Type.Union(
      ERROR_CODES.map((c) => Type.Literal(c)),
      { description: 'the stable code of the error catalogue (docs/errors.md)' },
    ),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  {
    $id: 'Problem',
    additionalProperties: true,
    description: 'application/problem+json; some codes add members (retryAfterMs, limit, …)',
  },
);

/** An answer with no body. */
export const NoContent = Type.Null({ description: 'no content' });

/** An answer in other media types than JSON (streams, PEM, CSV). */
export interface MediaAnswer {
  readonly description: string;
  readonly content: Readonly<Record<string, { readonly schema: TSchema }>>;
}
export const media = <C extends Record<string, TSchema>>(
  description: string,
  content: C,
): { description: string; content: { [K in keyof C]: { schema: C[K] } } } => ({
  description,
  content: Object.fromEntries(Object.entries(content).map(([type, schema]) => [type, { schema }])) as {
    [K in keyof C]: { schema: C[K] };
  },
});

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One operation of the API: where it lives, what it takes, and its successful answers by status. */
export interface Operation {
  readonly method: Method;
  /** OpenAPI form: `/v1/devices/{deviceId}`. */
  readonly path: string;
  readonly params?: TSchema;
  readonly query?: TSchema;
  /** Request headers the operation reads (If-Match), documented and validated. */
  readonly headers?: TSchema;
  readonly body?: TSchema;
  readonly responses: Readonly<Record<number, TSchema | MediaAnswer>>;
}

export const operation = <const O extends Operation>(o: O): O => o;

type AnswerType<A> = A extends TSchema
  ? Static<A>
  : A extends { content: { 'application/json': { schema: infer S extends TSchema } } }
    ? Static<S>
    : string;

/** What a successful call of the operation yields (204: undefined). */
export type ResponseOf<O extends Operation> = {
  [S in keyof O['responses']]: S extends 204 ? undefined : AnswerType<O['responses'][S]>;
}[keyof O['responses']];
export type ParamsOf<O extends Operation> = O['params'] extends TSchema
  ? Static<O['params']>
  : Record<string, never>;
export type QueryOf<O extends Operation> = O['query'] extends TSchema ? Static<O['query']> : never;
export type BodyOf<O extends Operation> = O['body'] extends TSchema ? Static<O['body']> : never;
