/**
 * A migrated embedded database to start tests from. Creating a PGlite database runs initdb and then
 * every migration: seconds of CPU per test server or store (about 5 s on a quiet machine, 10 s on a
 * busy one), paid by most of the suite's files. The test runner (scripts/test.mjs) makes one such
 * database before the tests start and hands its folder on in `MOORING_TEST_PGLITE_TEMPLATE`; a test
 * server's data directory then starts with a copy of it (`seedDataDir`), and an in-memory store loads
 * its dump (`openTestPglite`). The server migrates on start as always, finding nothing to do; the
 * first start of a data directory is otherwise the same (secrets, CA and administrator are made then).
 *
 * The template is kept between runs in the temporary folder under a name made of the migrations' text
 * and PGlite's version, so a changed migration makes a new one. Without the variable (a test file run
 * on its own with `node --test`), everything starts from scratch as before.
 *
 * Run as a script, it makes the template when missing and prints its folder.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Db } from '../src/store/db.js';
import { listMigrations, migrate } from '../src/store/migrate.js';
import { openPglite } from '../src/store/pglite.js';

export const TEMPLATE_ENV = 'MOORING_TEST_PGLITE_TEMPLATE';
const DUMP = 'db.tar';

function templateDir(): string {
  const manifest = new URL('../../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
  const pglite = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  const hash = createHash('sha256').update(`pglite ${pglite}\n`);
  for (const m of listMigrations()) hash.update(`${m.version} ${m.name}\n${m.sql}\n`);
  return join(tmpdir(), `mooring-pglite-template-${hash.digest('hex').slice(0, 16)}`);
}

/** Makes the template (a migrated data folder `db`, and its dump) unless it exists; returns its folder. */
export async function ensurePgliteTemplate(): Promise<string> {
  const dir = templateDir();
  if (existsSync(join(dir, DUMP))) return dir;
  const work = mkdtempSync(`${dir}.tmp-`);
  try {
    const db = await openPglite(join(work, 'db'));
    await migrate(db);
    await db.close();
    const pg = await PGlite.create(join(work, 'db'));
    const dump = await pg.dumpDataDir('none');
    await pg.close();
    writeFileSync(join(work, DUMP), Buffer.from(await dump.arrayBuffer()));
    try {
      renameSync(work, dir);
    } catch (err) {
      // Another run made it first: theirs is as good.
      if (!existsSync(join(dir, DUMP))) throw err;
      rmSync(work, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

function template(): string | undefined {
  const dir = process.env[TEMPLATE_ENV];
  return dir && existsSync(join(dir, DUMP)) ? dir : undefined;
}

/** Starts a server's data directory with a copy of the migrated database, when the runner made one. */
export function seedDataDir(dataDir: string): void {
  const dir = template();
  if (!dir) return;
  cpSync(join(dir, 'db'), join(dataDir, 'db'), { recursive: true });
  chmodSync(join(dataDir, 'db'), 0o700);
}

/** An in-memory embedded store, migrated: loaded from the template's dump when the runner made one. */
export async function openTestPglite(): Promise<Db> {
  const dir = template();
  if (!dir) return openPglite(undefined);
  return openPglite(undefined, { loadDataDir: new Blob([readFileSync(join(dir, DUMP))]) });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  process.stdout.write(`${await ensurePgliteTemplate()}\n`);
}
