/** Embedded store: PGlite persisted to a directory (or in memory when `dataDir` is undefined). */
import { PGlite } from '@electric-sql/pglite';
import { guardStatement, StoreError, isDatabaseError, type Db, type Queryable } from './db.js';
import { withAmbientTransactions } from './ambient.js';

type PgliteLike = Pick<PGlite, 'query'>;

function wrap(pg: PgliteLike): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      const res = await guardStatement(sql, () => pg.query<T>(sql, params as unknown[]));
      return res.rows;
    },
  };
}

/** `loadDataDir`: a dump (`dumpDataDir`) to start from instead of an empty database. */
export async function openPglite(
  dataDir: string | undefined,
  options: { loadDataDir?: Blob } = {},
): Promise<Db> {
  const pg = dataDir ? await PGlite.create(dataDir, options) : await PGlite.create(options);
  const q = wrap(pg);
  return withAmbientTransactions({
    kind: 'pglite',
    query: q.query,
    transaction: (fn) =>
      pg
        .transaction((tx) => fn(wrap(tx)))
        .catch((e: unknown) => {
          // The commit itself fails as a driver error.
          throw isDatabaseError(e) ? new StoreError(e, 'COMMIT') : e;
        }),
    exec: async (sql) => {
      await guardStatement(sql, () => pg.exec(sql));
    },
    close: () => pg.close(),
  });
}
