import {
  MANAGEMENT_OPERATIONS,
  type BodyOf,
  type ManagementOperationName,
  type ParamsOf,
  type QueryOf,
  type ResponseOf,
} from '@mooring/protocol';

/**
 * The named operations of the REST API a person or program calls (the device routes belong to the
 * device SDK). The CLI is built on these names; a test checks every one against the server's OpenAPI
 * document, and that every management route of the document has a name here.
 */
export type OperationName = ManagementOperationName;

/** The operation's method and path, by name (its schemas: `MANAGEMENT_OPERATIONS` of the protocol). */
export const OPERATIONS = Object.fromEntries(
  Object.entries(MANAGEMENT_OPERATIONS).map(([name, op]) => [name, [op.method, op.path] as const]),
) as {
  readonly [N in OperationName]: readonly [
    (typeof MANAGEMENT_OPERATIONS)[N]['method'],
    (typeof MANAGEMENT_OPERATIONS)[N]['path'],
  ];
};

type Op<N extends OperationName> = (typeof MANAGEMENT_OPERATIONS)[N];
/** The path parameters, query, body and answer of an operation, from its schemas. */
export type OperationParams<N extends OperationName> = ParamsOf<Op<N>>;
export type OperationQuery<N extends OperationName> = QueryOf<Op<N>>;
export type OperationBody<N extends OperationName> = BodyOf<Op<N>>;
export type OperationResponse<N extends OperationName> = ResponseOf<Op<N>>;

/** A route's path with its `{params}` filled in (URL-encoded); a missing parameter throws. */
export function pathOf<N extends OperationName>(
  name: N,
  params: OperationParams<N> | Record<string, string> = {},
): string {
  return OPERATIONS[name][1].replace(/\{(\w+)\}/g, (_m, p: string) => {
    const v = (params as Record<string, string | undefined>)[p];
    if (v === undefined) throw new Error(`${name}: missing ${p}`);
    return encodeURIComponent(v);
  });
}
