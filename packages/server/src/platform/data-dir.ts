/**
 * The data directory holds secrets (the secret key, the sealed CA key, the server key, the bootstrap
 * credential, and the embedded database with its digests and sealed values): it is owner-only, 0700
 * directories and 0600 files. Writing with `mode` is not enough: the mode applies only when a file is
 * created, a directory from an older version keeps its modes, and PGlite unpacks its initial database
 * with mode 0666 and writes some files later (the relation-cache init files) with 0644 whatever the
 * process umask. So the modes are set at every start, after every checkpoint and at stop.
 *
 * Only what Mooring keeps there is walked: the directory itself and the entries below. A data
 * directory pointed at a place that holds other files (a home directory) leaves those alone; they are
 * still out of others' reach behind the 0700 directory.
 */
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** What Mooring writes in the data directory. */
export const DATA_DIR_ENTRIES = ['db', 'pki', 'secret.key', 'bootstrap-admin.json'] as const;

export const OWNER_ONLY_DIR = 0o700;
export const OWNER_ONLY_FILE = 0o600;

export interface RestrictResult {
  /** Entries whose mode was changed. */
  changed: number;
  /** Entries whose mode could not be changed (another owner), with the reason. */
  failed: { path: string; error: string }[];
}

function restrict(path: string, result: RestrictResult, recurse: boolean): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (e) {
    // Gone meanwhile (PGlite removes temporary files) or never made: nothing to protect.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  // A symbolic link's own mode means nothing; its target is not Mooring's to change.
  if (stat.isSymbolicLink()) return;
  const want = stat.isDirectory() ? OWNER_ONLY_DIR : OWNER_ONLY_FILE;
  if ((stat.mode & 0o777) !== want) {
    try {
      chmodSync(path, want);
      result.changed++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        result.failed.push({ path, error: (e as Error).message });
    }
  }
  if (stat.isDirectory() && recurse) {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names) restrict(join(path, name), result, true);
  }
}

/** Makes the data directory and everything Mooring keeps in it owner-only. */
export function restrictDataDir(dataDir: string): RestrictResult {
  const result: RestrictResult = { changed: 0, failed: [] };
  restrict(dataDir, result, false);
  for (const entry of DATA_DIR_ENTRIES) restrict(join(dataDir, entry), result, true);
  return result;
}
