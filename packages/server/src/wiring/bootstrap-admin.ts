/**
 * The platform administrator's one-time credential file in the data directory. On the first start the
 * administrator is created with a password that works once (its first session may only change it) and
 * the file holds it; a file left from an earlier start is removed once its password is spent, and one
 * from before passwords were one-time becomes one-time.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOOTSTRAP_CREDENTIAL_FILE, type UserService } from '../domains/users/users.js';
import type { Logger } from '../platform/observability.js';

export interface BootstrapCredentialFile {
  readonly path: string;
  /** Removes the file, if it is there, saying why. */
  remove(why: string): void;
  /**
   * Creates the administrator when there is none yet (writing the file), or reconciles a file left
   * by an earlier start. Returns the file's path while its password is unused, null once spent.
   */
  ensure(
    users: Pick<UserService, 'ensureBootstrapAdmin' | 'reconcileBootstrapCredential'>,
  ): Promise<string | null>;
}

export function bootstrapCredentialFile(dataDir: string, logger: Logger): BootstrapCredentialFile {
  const path = join(dataDir, BOOTSTRAP_CREDENTIAL_FILE);
  const read = () => {
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { username?: unknown; password?: unknown };
      return typeof parsed.username === 'string' && typeof parsed.password === 'string'
        ? { username: parsed.username, password: parsed.password }
        : undefined;
    } catch {
      return undefined;
    }
  };
  const remove = (why: string) => {
    if (!existsSync(path)) return;
    rmSync(path, { force: true });
    logger.info({ file: path }, `removed the bootstrap administrator credential: ${why}`);
  };
  return {
    path,
    remove,
    async ensure(users) {
      const admin = await users.ensureBootstrapAdmin();
      if (admin) {
        writeFileSync(path, JSON.stringify(admin, null, 2) + '\n', { mode: 0o600 });
        logger.warn(
          { file: path },
          'created the platform administrator; its one-time password is in this file (owner-readable only): log in with it and choose your own',
        );
        return path;
      }
      if (!existsSync(path)) return null;
      const credential = read();
      const state = credential ? await users.reconcileBootstrapCredential(credential) : 'spent';
      if (state !== 'spent') return path;
      remove('its password no longer works');
      return null;
    },
  };
}
