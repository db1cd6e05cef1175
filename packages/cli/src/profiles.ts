/**
 * Profiles: named server URLs with the credential and CA to use, kept in one file readable by its
 * owner only (`$MOORING_CONFIG_DIR/profiles.json`, default `~/.config/mooring`). A credential given
 * on the command line or in MOORING_TOKEN wins over the profile's.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeOwnerOnly } from './files.js';

export interface Profile {
  server: string;
  /** PEM of the CA that signed the server certificate (the platform CA of a self-hosted server). */
  ca?: string;
  token?: string;
  /** What the token is: a login session or an API key. */
  tokenKind?: 'session' | 'api-key';
  username?: string;
  expiresAt?: number;
}

export interface ProfileFile {
  current?: string;
  profiles: Record<string, Profile>;
}

export function configDir(): string {
  return (
    process.env.MOORING_CONFIG_DIR ??
    join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'mooring')
  );
}

const fileOf = () => join(configDir(), 'profiles.json');

export class ProfileError extends Error {}

export function readProfiles(): ProfileFile {
  const file = fileOf();
  if (!existsSync(file)) return { profiles: {} };
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077)
    throw new ProfileError(
      `${file} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${file}`,
    );
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as ProfileFile;
    return { ...parsed, profiles: parsed.profiles ?? {} };
  } catch (e) {
    throw new ProfileError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Writes atomically with mode 0600 in a 0700 directory (an existing directory is made 0700). */
export function writeProfiles(data: ProfileFile): void {
  const dir = configDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  writeOwnerOnly(fileOf(), JSON.stringify(data, null, 2) + '\n');
}

export function profileName(explicit?: string): string {
  return explicit ?? process.env.MOORING_PROFILE ?? readProfiles().current ?? 'default';
}

/**
 * When saving a profile makes it the current one: `always` (an explicit request), `if-none` (the first
 * profile saved, so that the next command finds it) or `never` (a profile for another purpose, like
 * the demo's). Logging in into a named profile never silently moves the current profile elsewhere.
 */
export type MakeCurrent = 'always' | 'if-none' | 'never';

/** Saves the profile and returns the name of the current profile afterwards (if any). */
export function saveProfile(name: string, profile: Profile, makeCurrent: MakeCurrent): string | undefined {
  const data = readProfiles();
  data.profiles[name] = profile;
  if (makeCurrent === 'always' || (makeCurrent === 'if-none' && !data.current)) data.current = name;
  writeProfiles(data);
  return data.current;
}

export function removeProfile(name: string): boolean {
  const data = readProfiles();
  if (!data.profiles[name]) return false;
  delete data.profiles[name];
  if (data.current === name) delete data.current;
  writeProfiles(data);
  return true;
}
