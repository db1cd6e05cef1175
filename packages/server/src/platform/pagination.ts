/**
 * Opaque cursors: the last row's sort key, base64url-encoded JSON, with a MAC so that a cursor that
 * was altered or made up is refused (`INVALID_CURSOR`) rather than used as a position. The MAC key is
 * derived from the platform secret key, so every node of a deployment accepts every node's cursors.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isCanonicalBase64url } from '@mooring/protocol';
import { Errors } from '../errors.js';

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last page. */
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** Bytes of HMAC-SHA-256 kept in a cursor: 128 bits. */
const TAG_BYTES = 16;

export interface Cursors {
  /** Decodes a cursor from a previous page; undefined when none was given. Throws `INVALID_CURSOR`. */
  decode<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined;
  /** Fetch `limit + 1` rows, then call this to cut the page and compute its cursor. */
  pageOf<R, T>(rows: R[], limit: number, toItem: (r: R) => T, cursorOf: (r: R) => unknown): Page<T>;
}

/** Cursors authenticated with a key derived from the platform secret key (32 bytes). */
export function createCursors(secretKey: Buffer): Cursors {
  const key = createHmac('sha256', secretKey).update('mooring pagination cursor v1').digest();
  const tagOf = (body: string) => createHmac('sha256', key).update(body).digest().subarray(0, TAG_BYTES);

  function encode(value: unknown): string {
    const body = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${body}.${tagOf(body).toString('base64url')}`;
  }

  return {
    decode(cursor, check) {
      if (cursor === undefined || cursor === '') return undefined;
      const [body, tag, extra] = cursor.split('.');
      if (extra !== undefined || !body || !tag || !isCanonicalBase64url(body) || !isCanonicalBase64url(tag))
        throw Errors.invalidCursor();
      const given = Buffer.from(tag, 'base64url');
      if (given.length !== TAG_BYTES || !timingSafeEqual(given, tagOf(body))) throw Errors.invalidCursor();
      let v: unknown;
      try {
        v = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        throw Errors.invalidCursor();
      }
      if (!check(v)) throw Errors.invalidCursor();
      return v;
    },

    pageOf(rows, limit, toItem, cursorOf) {
      const more = rows.length > limit;
      const pageRows = more ? rows.slice(0, limit) : rows;
      const last = pageRows.at(-1);
      return {
        items: pageRows.map(toItem),
        nextCursor: more && last !== undefined ? encode(cursorOf(last)) : null,
      };
    },
  };
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.max(1, Math.floor(limit)), MAX_PAGE_SIZE);
}
