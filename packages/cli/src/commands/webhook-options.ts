/**
 * What `mooring webhooks` builds without a server: the bodies of `create` and `update` from flags
 * (secrets read from files, never from arguments), and the range of `replay --from --to`.
 */
import {
  PLATFORM_EVENT_TYPES,
  type WebhookAuthInput,
  type WebhookCreate,
  type WebhookUpdate,
} from '@mooring/protocol';
import { readSecret, seconds } from '../act.js';
import { UsageError } from '../context.js';
import { readText } from './config-patch.js';

export type CreateBody = typeof WebhookCreate.static;
export type UpdateBody = typeof WebhookUpdate.static;
type Auth = typeof WebhookAuthInput.static;

export interface AuthOptions {
  basicUser?: string;
  basicPasswordFile?: string;
  oauthTokenUrl?: string;
  oauthClientId?: string;
  oauthClientSecretFile?: string;
  oauthScope?: string;
  oauthAudience?: string;
  withoutAuth?: boolean;
}

export interface WebhookOptions extends AuthOptions {
  name?: string;
  url?: string;
  event?: string[];
  allEvents?: boolean;
  tag?: string[];
  everyDevice?: boolean;
  caFile?: string;
  removeCa?: boolean;
  enable?: boolean;
  disable?: boolean;
}

/** `--event` values (repeatable, or comma-separated), checked against the catalogue. */
export function eventTypes(
  o: Pick<WebhookOptions, 'event' | 'allEvents'>,
): CreateBody['eventTypes'] | undefined {
  if (o.allEvents && o.event?.length) throw new UsageError('--all-events or --event, not both');
  if (o.allEvents) return [...PLATFORM_EVENT_TYPES];
  if (!o.event?.length) return undefined;
  const types = o.event.flatMap((e) => e.split(',').map((s) => s.trim())).filter(Boolean);
  const unknown = types.filter((t) => !(PLATFORM_EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length)
    throw new UsageError(
      `not an event type: ${unknown.join(', ')} (one of ${PLATFORM_EVENT_TYPES.join(', ')})`,
    );
  return [...new Set(types)] as CreateBody['eventTypes'];
}

/**
 * A secret from a file (its first line; trailing whitespace dropped), or from the next line of
 * standard input for `-`.
 */
export async function secretFrom(flag: string, file: string): Promise<string> {
  if (file === '-') return readSecret(flag, true);
  const text = readText(file).split(/\r?\n/)[0]!.trimEnd();
  if (!text) throw new UsageError(`${flag} ${file}: the file is empty`);
  return text;
}

/** The authentication the endpoint wants, from the `--basic-…` or `--oauth-…` flags (or `--without-auth`). */
export async function authFrom(o: AuthOptions): Promise<Auth | undefined> {
  const basic = o.basicUser !== undefined || o.basicPasswordFile !== undefined;
  const oauth = [
    o.oauthTokenUrl,
    o.oauthClientId,
    o.oauthClientSecretFile,
    o.oauthScope,
    o.oauthAudience,
  ].some((v) => v !== undefined);
  if ([basic, oauth, Boolean(o.withoutAuth)].filter(Boolean).length > 1)
    throw new UsageError('give one of --basic-…, --oauth-… or --without-auth');
  if (o.withoutAuth) return { type: 'none' };
  if (basic) {
    if (o.basicUser === undefined || o.basicPasswordFile === undefined)
      throw new UsageError('basic authentication needs --basic-user and --basic-password-file');
    return {
      type: 'basic',
      username: o.basicUser,
      password: await secretFrom('--basic-password-file', o.basicPasswordFile),
    };
  }
  if (oauth) {
    if (!o.oauthTokenUrl || !o.oauthClientId || !o.oauthClientSecretFile)
      throw new UsageError(
        'OAuth 2 client credentials need --oauth-token-url, --oauth-client-id and --oauth-client-secret-file',
      );
    return {
      type: 'oauth2',
      tokenUrl: o.oauthTokenUrl,
      clientId: o.oauthClientId,
      clientSecret: await secretFrom('--oauth-client-secret-file', o.oauthClientSecretFile),
      ...(o.oauthScope !== undefined ? { scope: o.oauthScope } : {}),
      ...(o.oauthAudience !== undefined ? { audience: o.oauthAudience } : {}),
    };
  }
  return undefined;
}

const caPem = (file: string) => {
  const pem = readText(file);
  if (!pem.includes('-----BEGIN')) throw new UsageError(`--ca-file ${file}: not a PEM file`);
  return pem;
};

export async function createBody(o: WebhookOptions): Promise<CreateBody> {
  if (!o.name || !o.url) throw new UsageError('a webhook needs --name and --url');
  const types = eventTypes(o);
  if (!types)
    throw new UsageError('give the events to send with --event <type> (repeatable) or --all-events');
  const auth = await authFrom(o);
  return {
    name: o.name,
    url: o.url,
    eventTypes: types,
    ...(o.tag?.length ? { deviceTags: o.tag } : {}),
    ...(auth ? { auth } : {}),
    ...(o.caFile !== undefined ? { caPem: caPem(o.caFile) } : {}),
  };
}

/** The changes of `update`: only what a flag names. */
export async function updateBody(o: WebhookOptions): Promise<UpdateBody> {
  if (o.enable && o.disable) throw new UsageError('--enable or --disable, not both');
  if (o.everyDevice && o.tag?.length) throw new UsageError('--every-device or --tag, not both');
  if (o.removeCa && o.caFile !== undefined) throw new UsageError('--remove-ca or --ca-file, not both');
  const types = eventTypes(o);
  const auth = await authFrom(o);
  const body: UpdateBody = {
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.url !== undefined ? { url: o.url } : {}),
    ...(types ? { eventTypes: types } : {}),
    ...(o.tag?.length ? { deviceTags: o.tag } : o.everyDevice ? { deviceTags: [] } : {}),
    ...(auth ? { auth } : {}),
    ...(o.caFile !== undefined ? { caPem: caPem(o.caFile) } : o.removeCa ? { caPem: null } : {}),
    ...(o.enable ? { enabled: true } : o.disable ? { enabled: false } : {}),
  };
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one option');
  return body;
}

/** A time as epoch ms: epoch ms, an RFC 3339 date-time, or a duration ago (`15m`, `2h`, `7d`). */
export function epochMs(flag: string, text: string, now = Date.now()): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (/^\d+[smhd]$/.test(t)) return now - seconds(t) * 1000;
  const ms = Date.parse(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t) || Number.isNaN(ms))
    throw new UsageError(`${flag} '${text}' is not a time (epoch ms, RFC 3339, or a duration ago like 2h)`);
  return ms;
}
