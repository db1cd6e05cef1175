/** Embedded store: PGlite persisted to a directory (or in memory when `dataDir` is undefined). */
import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from './db.js';
import { withAmbientTransactions } from './ambient.js';

type PgliteLike = Pick<PGlite, 'query'>;

function wrap(pg: PgliteLike): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      const res = await pg.query<T>(sql, params as unknown[]);
      return res.rows;
    },
  };
}

export async function openPglite(dataDir: string | undefined): Promise<Db> {
  const pg = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  const q = wrap(pg);
  return withAmbientTransactions({
    kind: 'pglite',
    query: q.query,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    exec: async (sql) => {
      await pg.exec(sql);
    },
    close: () => pg.close(),
  });
}
