/**
 * The store's one query interface, spoken in PostgreSQL's dialect by both back ends: PGlite (embedded,
 * in-process) and a PostgreSQL server. Domain stores take a `Queryable`; nothing else touches a driver.
 */
import { AppError } from '../errors.js';

export interface Queryable {
  /** Runs one statement with `$1…` parameters and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. Inside an
   * ambient transaction (`ambient.ts`) it is a savepoint of that transaction, and `query` joins it.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

interface DriverError {
  code?: string;
  constraint?: string;
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
