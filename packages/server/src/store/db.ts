/**
 * The store's one query interface, spoken in PostgreSQL's dialect by both back ends: PGlite (embedded,
 * in-process) and a PostgreSQL server. Domain stores take a `Queryable`; nothing else touches a driver.
 */
import { AppError } from '../errors.js';

export interface Queryable {
  /** Runs one statement with `$1…` parameters and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface TransactionOptions {
  /**
   * `false`: the transaction is not made ambient (see `ambient.ts`): only `tx` joins it. For a hot
   * path that never calls another service inside it (the telemetry group commit): on Node 20 an open
   * ambient context makes every promise of the process slower while it lasts.
   */
  ambient?: false;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. Inside an
   * ambient transaction (`ambient.ts`) it is a savepoint of that transaction, and `query` joins it.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs a script of several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

interface DriverError {
  code?: string;
  constraint?: string;
  table?: string;
  column?: string;
  message?: string;
}

/**
 * A statement's name for logs: its verb and the first table it names (`INSERT audit_records`). The SQL
 * text is the code's; the name is enough to find it.
 */
export function statementName(sql: string): string {
  const text = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const verb = (/^\w+/.exec(text)?.[0] ?? 'statement').toUpperCase();
  const table = /\b(?:FROM|INTO|UPDATE|TABLE|JOIN)\s+("?[\w.]+"?)/i.exec(text)?.[1];
  return table ? `${verb} ${table.replace(/"/g, '')}` : verb;
}

/**
 * What a failed statement may tell the rest of the process, and so its logs: the statement's name, the
 * SQLSTATE and the schema objects involved, never the values. A driver error carries the parameters
 * (PGlite's `params`), and its message and `detail` quote input (`invalid input syntax for type
 * bigint: "…"`, `Key (token_hash)=(…) already exists`): request data and secrets' digests.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  /** The SQLSTATE (or the driver's error code when the server never answered). */
  readonly code: string | undefined;
  readonly statement: string;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;
  /**
   * The store could not be reached or dropped the connection (see `isStoreUnavailable`): the request
   * is answered 503 NOT_READY with `retryAfterMs`, not 500.
   */
  readonly unavailable: boolean;

  constructor(e: unknown, sql: string) {
    const err = (e ?? {}) as DriverError;
    const statement = statementName(sql);
    const sqlState = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code);
    // Only a message the server did not write (a connection failure) may be kept: it quotes no input.
    const why = sqlState
      ? `SQLSTATE ${err.code}`
      : `${typeof err.code === 'string' ? `${err.code}: ` : ''}${e instanceof Error && !('params' in e) ? e.message : 'driver error'}`;
    super(`${statement} failed: ${why}${err.constraint ? ` (constraint ${err.constraint})` : ''}`);
    this.code = typeof err.code === 'string' ? err.code : undefined;
    this.statement = statement;
    this.constraint = err.constraint;
    this.table = err.table;
    this.column = err.column;
    this.unavailable = isConnectionFailure(e);
  }
}

/** SQLSTATEs that mean "the server is going away or not there yet", not "this statement is wrong". */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Socket errors of a server that is down or unreachable. */
const UNAVAILABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/**
 * What node-postgres says, with no code, when the connection broke under a query, when the pool's
 * `connectionTimeoutMillis` ran out, or when a client whose connection died is used again.
 */
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|is not queryable|Connection ended|connection timeout/i;

/**
 * Whether a driver error means the store is unreachable (down, restarting, refusing connections, the
 * connection cut) rather than that a statement failed: class 08 (connection exception), 57P01-03
 * (shutdown, crash, cannot connect now), 53300 (too many connections), socket errors, and the pool's
 * own connection failures.
 */
export function isConnectionFailure(e: unknown): boolean {
  if (e instanceof StoreError) return e.unavailable;
  const err = (e ?? {}) as DriverError;
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code && (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_ERRNOS.has(code)))
    return true;
  if (code && /^[0-9A-Z]{5}$/.test(code)) return false;
  return e instanceof Error && UNAVAILABLE_MESSAGES.test(e.message);
}

/** Whether `e` (any error a service let through) is the store being unreachable. */
export function isStoreUnavailable(e: unknown): boolean {
  return e instanceof StoreError && e.unavailable;
}

/** Whether an error came from the database server (it carries a SQLSTATE). */
export function isDatabaseError(e: unknown): boolean {
  const code = (e as DriverError | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !(e instanceof StoreError);
}

/** Runs a driver call; a failure leaves as a StoreError (domain errors raised inside pass through). */
export async function guardStatement<T>(sql: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof AppError || e instanceof StoreError) throw e;
    throw new StoreError(e, sql);
  }
}

/**
 * Turns driver errors into domain errors at the store boundary so that no raw driver error crosses it.
 * A unique violation becomes ALREADY_EXISTS naming `what`; anything else is rethrown for the 500 path.
 */
export function mapUniqueViolation(e: unknown, what: string): never {
  const err = e as DriverError;
  if (err && err.code === '23505') throw new AppError('ALREADY_EXISTS', `${what} already exists`);
  throw e;
}

/**
 * A service's way into a transaction: `fn` gets its domain store bound to the transaction, and the
 * transaction itself for other domains' calls that take one. `app.ts` builds it with `transactionOf`.
 */
export type Transaction<S> = <T>(fn: (store: S, tx: Queryable) => Promise<T>) => Promise<T>;

/** A `Transaction` over `db` for the store that `bind` builds on a connection. */
export function transactionOf<S>(db: Db, bind: (q: Queryable) => S): Transaction<S> {
  return (fn) => db.transaction((tx) => fn(bind(tx), tx));
}
