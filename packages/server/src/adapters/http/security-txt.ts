/**
 * `/.well-known/security.txt` (RFC 9116): where to report a vulnerability in this deployment. Built
 * from configuration: `Contact` lines from `MOORING_SECURITY_CONTACT` (the operator's own address or
 * page; the platform cannot know it), `Expires` from `MOORING_SECURITY_TXT_EXPIRES`, or else 180 days
 * after the day of the answer (the file is generated from the live configuration, so it is as current
 * as that; RFC 9116 asks for less than a year). With no contact configured the file is not served:
 * `404 NOT_FOUND`, as for any address that names nothing, rather than a file that points nowhere.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';

export const SECURITY_TXT_PATH = '/.well-known/security.txt';
const DEFAULT_EXPIRY_DAYS = 180;
const DAY_MS = 86_400_000;

/** The file's text, or undefined when no contact is configured. */
export function securityTxt(
  settings: Pick<Config, 'securityContact' | 'securityTxtExpires'>,
  now: number,
): string | undefined {
  if (settings.securityContact.length === 0) return undefined;
  const expires = settings.securityTxtExpires
    ? new Date(settings.securityTxtExpires)
    : new Date(Math.floor(now / DAY_MS) * DAY_MS + DEFAULT_EXPIRY_DAYS * DAY_MS);
  return [
    ...settings.securityContact.map((uri) => `Contact: ${uri}`),
    `Expires: ${expires.toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
    'Preferred-Languages: en',
    '',
  ].join('\n');
}

export function registerSecurityTxt(
  app: FastifyInstance,
  settings: Pick<Config, 'securityContact' | 'securityTxtExpires'>,
): void {
  app.get(
    SECURITY_TXT_PATH,
    { config: { auth: 'none' }, schema: { hide: true } },
    async (_request, reply) => {
      const text = securityTxt(settings, Date.now());
      if (text === undefined)
        throw new AppError(
          'NOT_FOUND',
          'this deployment names no security contact (MOORING_SECURITY_CONTACT)',
        );
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'max-age=86400').send(text);
    },
  );
}
