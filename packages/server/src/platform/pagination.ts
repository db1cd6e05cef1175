/** Opaque cursors: the last row's sort key, base64url-encoded. */
import { Errors } from '../errors.js';

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last page. */
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw Errors.invalidCursor();
  }
  if (!check(v)) throw Errors.invalidCursor();
  return v;
}

/** Fetch `limit + 1` rows, then call this to cut the page and compute its cursor. */
export function pageOf<R, T>(
  rows: R[],
  limit: number,
  toItem: (r: R) => T,
  cursorOf: (r: R) => unknown,
): Page<T> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    items: pageRows.map(toItem),
    nextCursor: more && last !== undefined ? encodeCursor(cursorOf(last)) : null,
  };
}

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.max(1, Math.floor(limit)), MAX_PAGE_SIZE);
}
