/**
 * A throwaway PostgreSQL cluster for tests that stop and start the server (store outages): `initdb`
 * in a temporary directory, `pg_ctl` on a free port of 127.0.0.1, trust authentication, its socket in
 * the same directory. The machine's own cluster is never touched. `initdb` and the server refuse to run
 * as root, so as root (CI, containers) the cluster belongs to the `postgres` user.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface OwnPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** Starts the stopped cluster again on the same port and waits until it accepts connections. */
  start(): void;
  /** Stops the cluster; `immediate` (the default) is a crash: no checkpoint, connections cut. */
  stop(mode?: 'immediate' | 'fast'): void;
  /** Stops the cluster if it runs and removes its directory. */
  cleanup(): void;
}

/** The directory with `initdb` and `pg_ctl`: on PATH, or Debian's /usr/lib/postgresql/<version>/bin. */
function binDir(): string {
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  throw new Error('initdb and pg_ctl were not found (install the PostgreSQL server package)');
}

/** Whether `initdb` and `pg_ctl` exist here, so a test can skip itself where they do not. */
export function ownPostgresAvailable(): boolean {
  try {
    binDir();
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** The uid and gid of `postgres`, when running as root (initdb refuses root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = binDir();
  const owner = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'mooring-pg-'));
  const data = join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const port = await freePort();
  // As root, each tool runs as `postgres` (runuser keeps the environment apart from the user).
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = owner
      ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]]
      : [join(bin, tool), args];
    execFileSync(cmd, argv, { stdio: 'pipe', cwd: dir, timeout: 60_000 });
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-locale']);
  const options = [
    `-k ${dir}`,
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c max_connections=50',
  ].join(' ');
  let running = false;
  const start = () => {
    run('pg_ctl', ['start', '-w', '-t', '30', '-D', data, '-l', join(dir, 'log'), '-o', options]);
    running = true;
  };
  const stop = (mode: 'immediate' | 'fast' = 'immediate') => {
    run('pg_ctl', ['stop', '-w', '-t', '30', '-D', data, '-m', mode]);
    running = false;
  };
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    cleanup() {
      if (running) {
        try {
          stop('immediate');
        } catch {
          /* already down */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
