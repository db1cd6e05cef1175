/** Server store: a PostgreSQL connection pool. */
import pg from 'pg';
import { guardStatement, StoreError, isDatabaseError, type Db, type Queryable } from './db.js';
import { withAmbientTransactions } from './ambient.js';

// bigint columns (epoch-millisecond timestamps, counters) come back as JS numbers: they stay below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface PostgresOptions {
  url: string;
  /** Sets `search_path` on every connection; tests use it to isolate runs in one database. */
  schema?: string;
  maxConnections?: number;
  /**
   * How long a query waits for a new connection before it fails (default 5000 ms). A store that is
   * down refuses at once; one that does not answer at all (a dropped network) fails after this, so a
   * request is answered 503 instead of hanging.
   */
  connectTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client that errors (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  await pool.query('SELECT 1');
  const query = async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> =>
    (await guardStatement(sql, () => pool.query(sql, params as unknown[]))).rows as T[];
  return withAmbientTransactions({
    kind: 'postgres',
    query,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await guardStatement('CONNECT', () => pool.connect());
      // A checked-out client has no pool listener: when its connection breaks (the server stops), the
      // 'error' it emits would crash the process. The statement under way fails with it anyway, and
      // the broken client is dropped at release.
      const ignore = () => undefined;
      client.on('error', ignore);
      try {
        await guardStatement('BEGIN', () => client.query('BEGIN'));
        const result = await fn({
          query: async <R>(sql: string, params: readonly unknown[] = []) =>
            (await guardStatement(sql, () => client.query(sql, params as unknown[]))).rows as R[],
        });
        await guardStatement('COMMIT', () => client.query('COMMIT'));
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        // BEGIN and COMMIT leave as StoreErrors (a serialization failure at commit, a cut connection).
        throw isDatabaseError(e) ? new StoreError(e, 'COMMIT') : e;
      } finally {
        client.off('error', ignore);
        client.release();
      }
    },
    exec: async (sql) => {
      await guardStatement(sql, () => pool.query(sql));
    },
    close: () => pool.end(),
  });
}
