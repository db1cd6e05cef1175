/**
 * Files the CLI writes that hold secrets (profiles, factory manifests, exports) end owner-only
 * (0600) whether or not they existed: `writeFileSync`'s `mode` applies only when a file is created,
 * so a manifest written over an older 0644 one would keep 0644.
 */
import {
  chmodSync,
  closeSync,
  createWriteStream,
  fchmodSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const OWNER_ONLY = 0o600;

/**
 * Writes `data` to a new file beside `path` with mode 0600, then renames it over `path`: the result
 * is owner-only, and a reader never sees half a file.
 */
export function writeOwnerOnly(path: string, data: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data, { mode: OWNER_ONLY });
    // A leftover temporary file of the same name keeps its mode: set it.
    chmodSync(tmp, OWNER_ONLY);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A stream to `path` (created or truncated) whose file is owner-only before the first byte. */
export function ownerOnlyStream(path: string): WriteStream {
  const fd = openSync(path, 'w', OWNER_ONLY);
  try {
    fchmodSync(fd, OWNER_ONLY);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return createWriteStream(path, { fd });
}
