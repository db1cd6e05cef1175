/**
 * What every command gets: the output (JSON or tables), the client for the chosen server and
 * credential, and the profile those came from. Commands throw; `run` in main.ts turns errors into
 * messages and exit codes.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { MooringClient } from '@mooring/client';
import { createOutput, type Output } from './output.js';
import { profileName, readProfiles, type Profile } from './profiles.js';

export interface GlobalOptions {
  profile?: string;
  server?: string;
  token?: string;
  ca?: string;
  json?: boolean;
}

export class UsageError extends Error {}

export interface Ctx {
  out: Output;
  globals: GlobalOptions;
  profileName: string;
  profile: Profile | undefined;
  /** The client for the server and credential in effect; throws a UsageError when there is no server. */
  client(opts?: { anonymous?: boolean }): MooringClient;
  /** The server URL and CA in effect (for login). */
  server(): { url: string; ca?: string };
}

export function readCa(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the CA file ${value}: ${(e as Error).message}`);
  }
}

export function makeContext(cmd: Command): Ctx {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  const name = profileName(globals.profile);
  const profile = readProfiles().profiles[name];
  const out = createOutput(Boolean(globals.json));
  const server = () => {
    const url = globals.server ?? process.env.MOORING_SERVER ?? profile?.server;
    if (!url)
      throw new UsageError(
        'no server: run `mooring login --server https://host:8443 --ca ca.pem`, or pass --server (or MOORING_SERVER)',
      );
    const ca =
      readCa(globals.ca ?? process.env.MOORING_CA) ?? (url === profile?.server ? profile?.ca : undefined);
    return { url, ...(ca ? { ca } : {}) };
  };
  const clients: MooringClient[] = [];
  process.once('beforeExit', () => clients.forEach((c) => c.close()));
  return {
    out,
    globals,
    profileName: name,
    profile,
    server,
    client(opts = {}) {
      const s = server();
      const token = opts.anonymous
        ? undefined
        : (globals.token ??
          process.env.MOORING_TOKEN ??
          (s.url === profile?.server ? profile?.token : undefined));
      const c = new MooringClient({
        baseUrl: s.url,
        ...(s.ca ? { ca: s.ca } : {}),
        ...(token ? { token } : {}),
        userAgent: 'mooring-cli',
      });
      clients.push(c);
      return c;
    },
  };
}
