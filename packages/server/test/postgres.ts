/**
 * The local PostgreSQL server for store tests: `MOORING_TEST_DATABASE_URL` (default: the standard
 * local port, trust auth). Started when it is down; each test gets its own schema, dropped afterwards.
 */
import { execSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { openPostgres } from '../src/store/postgres.js';
import { openPglite } from '../src/store/pglite.js';
import { openTestPglite } from './pglite-template.js';
import type { Db } from '../src/store/db.js';

export const TEST_DATABASE_URL =
  process.env.MOORING_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

let ensured: Promise<void> | undefined;

/** Makes sure the server answers, starting the Debian cluster if it is down. */
export function ensurePostgres(): Promise<void> {
  ensured ??= (async () => {
    if (await reachable()) return;
    const versions = readdirSync('/etc/postgresql');
    for (const v of versions) {
      try {
        execSync(`pg_ctlcluster --skip-systemctl-redirect ${v} main start`, { stdio: 'ignore' });
      } catch {
        /* already running or another version: the reachability check decides */
      }
    }
    for (let i = 0; i < 50; i++) {
      if (await reachable()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`PostgreSQL at ${TEST_DATABASE_URL} is not reachable and could not be started`);
  })();
  return ensured;
}

/**
 * A store in a fresh schema of the test server; `drop` removes the schema. `schema` lets a test open
 * the same data again (a restart).
 */
export async function openTestPostgres(): Promise<{ db: Db; schema: string; drop(): Promise<void> }> {
  await ensurePostgres();
  const schema = `mooring_test_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = await openPostgres({ url: TEST_DATABASE_URL, schema, maxConnections: 4 });
  return {
    db,
    schema,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** A fresh database on the test server, for a server process that takes a URL; `drop` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  await ensurePostgres();
  const name = `mooring_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

type Backend = [string, () => Promise<{ db: Db; close(): Promise<void> }>];

const postgresBackend: Backend = [
  'postgres',
  async () => {
    const t = await openTestPostgres();
    return { db: t.db, close: t.drop };
  },
];

/**
 * The two store back ends the same tests run against: embedded PGlite (in memory; already migrated
 * when the test runner made a template, test/pglite-template.ts) and a fresh schema on the PostgreSQL
 * test server (empty). Both are migrated by the test as usual.
 */
export const storeBackends: Backend[] = [
  [
    'pglite',
    async () => {
      const db = await openTestPglite();
      return { db, close: () => db.close() };
    },
  ],
  postgresBackend,
];

/** The same, both empty: for a test of the migrations themselves. */
export const emptyStoreBackends: Backend[] = [
  [
    'pglite',
    async () => {
      const db = await openPglite(undefined);
      return { db, close: () => db.close() };
    },
  ],
  postgresBackend,
];
