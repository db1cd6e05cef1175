/**
 * The one rule for text and JSON on the wire, shared by every adapter (HTTP bodies, query strings and
 * path parameters, MQTT payloads, topics and client ids) and by the SDK.
 *
 * - Text is valid Unicode the store can hold: UTF-8 bytes (RFC 3629), no U+0000 (NUL), no lone
 *   UTF-16 surrogate (PostgreSQL `text` and `jsonb` refuse both, and `\ud800` written to a `text`
 *   column would be silently replaced).
 * - JSON is one I-JSON document (RFC 7493): UTF-8 without a byte order mark, no duplicate member
 *   names, every number a finite IEEE 754 double (`1e999` is refused, not turned into `null`), at
 *   most {@link JSON_LIMITS.maxDepth} levels of nested objects and arrays, and at most
 *   {@link JSON_LIMITS.maxMembers} members in any one object.
 *
 * The checks cost one scan of the text and one walk of the parsed value: they sit on the publish path.
 */
import { isUtf8 } from 'node:buffer';

export const JSON_LIMITS = {
  /**
   * Deepest nesting of objects and arrays in a JSON document, counting the top level as 1: `{"a":{}}`
   * is 2 deep. Deeper documents are refused with `JSON_TOO_DEEP`.
   */
  maxDepth: 32,
  /**
   * Most members one object may hold. A wider object is refused with `JSON_TOO_DEEP` too (one code for
   * the shape of a document), before it is parsed: tens of thousands of names fit in a 256 KiB body,
   * and each would cost a validation error, an audit line or a column of work downstream.
   */
  maxMembers: 1000,
} as const;

export type WireRefusalCode = 'MALFORMED_JSON' | 'INVALID_TEXT' | 'JSON_TOO_DEEP' | 'NUMBER_OUT_OF_RANGE';

export interface WireRefusal {
  code: WireRefusalCode;
  message: string;
  /** JSON Pointer (RFC 6901) to the offending value, when there is one. */
  path?: string;
}

export type WireResult<T> = { ok: true; value: T } | { ok: false; error: WireRefusal };

/** Why a string cannot be stored, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  if (s.indexOf('\u0000') !== -1) return 'contains U+0000 (NUL)';
  if (!s.isWellFormed()) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

/** Whether a string can be stored: no NUL, no lone surrogate. */
export function isStorableText(s: string): boolean {
  return s.indexOf('\u0000') === -1 && s.isWellFormed();
}

function fail(code: WireRefusalCode, message: string, path?: string): { ok: false; error: WireRefusal } {
  return { ok: false, error: path === undefined ? { code, message } : { code, message, path } };
}

function pointerToken(key: string | number): string {
  return `/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * One pass over JSON text outside its strings: the deepest nesting, the widest object, and how many
 * name separators (`:`) it holds. In well-formed JSON every member has exactly one, so a parsed value
 * with fewer members than that had a name twice. Stops as soon as a limit is passed.
 */
function scan(
  text: string,
  maxDepth: number,
  maxMembers: number,
): { tooDeep: boolean; tooWide: boolean; members: number } {
  let depth = 0;
  let members = 0;
  // Members seen so far in the open object at each depth (arrays hold no `:`, so theirs stay 0).
  const open = new Array<number>(maxDepth + 1).fill(0);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string natively: to the next quote not escaped by an odd run of backslashes.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end === -1) return { tooDeep: false, tooWide: false, members }; // unterminated: JSON.parse refuses it
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
        i = end;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === COLON) {
      members++;
      if (depth > 0 && ++open[depth]! > maxMembers) return { tooDeep: false, tooWide: true, members };
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return { tooDeep: true, tooWide: false, members };
      if (depth > 0) open[depth] = 0;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return { tooDeep: false, tooWide: false, members };
}

function hasPrototypeMember(v: unknown): boolean {
  return typeof v === 'object' && v !== null && Object.prototype.hasOwnProperty.call(v, 'prototype');
}

interface Walk {
  members: number;
  /** False when the text cannot hold a bad string, so strings and names need no check. */
  checkText: boolean;
  error?: WireRefusal;
}

/**
 * Checks every string, member name and number of a parsed value; counts object members. Returns the
 * path of the first offence, built only on the way out of a failure. Recursion is bounded by the
 * depth the scan allowed.
 */
function walk(value: unknown, state: Walk): string | undefined {
  if (typeof value === 'string') {
    if (!state.checkText) return undefined;
    const problem = textProblem(value);
    if (problem) {
      state.error = { code: 'INVALID_TEXT', message: `a string ${problem}` };
      return '';
    }
    return undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      state.error = {
        code: 'NUMBER_OUT_OF_RANGE',
        message: 'a number is outside the range of a 64-bit floating point number',
      };
      return '';
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = walk(value[i], state);
      if (at !== undefined) return pointerToken(i) + at;
    }
    return undefined;
  }
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    state.members++;
    const problem = state.checkText ? textProblem(key) : undefined;
    if (problem) {
      state.error = { code: 'INVALID_TEXT', message: `a member name ${problem}` };
      return pointerToken(key);
    }
    // Prototype poisoning (as secure-json-parse refuses it): `__proto__`, or `constructor.prototype`.
    if (key === '__proto__' || (key === 'constructor' && hasPrototypeMember(obj[key]))) {
      state.error = { code: 'MALFORMED_JSON', message: `the member name '${key}' is not accepted here` };
      return pointerToken(key);
    }
    const at = walk(obj[key], state);
    if (at !== undefined) return pointerToken(key) + at;
  }
  return undefined;
}

/**
 * Checks an already parsed value (query parameters, path parameters, a value built in memory) against
 * the text and number rules. Does not bound depth: use it on values whose shape is already bounded.
 */
export function checkValue(value: unknown): WireRefusal | undefined {
  const state: Walk = { members: 0, checkText: true };
  const at = walk(value, state);
  if (at === undefined || !state.error) return undefined;
  return { ...state.error, path: at };
}

/**
 * Parses JSON text under the rule above. `raw` may be bytes (checked as UTF-8) or an already decoded
 * string (a string can carry no invalid UTF-8, but may carry lone surrogates, which the walk finds).
 */
export function parseStrictJson(
  raw: Buffer | Uint8Array | string,
  maxDepth: number = JSON_LIMITS.maxDepth,
  maxMembers: number = JSON_LIMITS.maxMembers,
): WireResult<unknown> {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else {
    if (raw.byteLength >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf)
      return fail('MALFORMED_JSON', 'the document starts with a byte order mark; send UTF-8 without one');
    if (!isUtf8(raw)) return fail('INVALID_TEXT', 'the document is not valid UTF-8');
    text = (Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)).toString(
      'utf8',
    );
  }
  if (text.charCodeAt(0) === 0xfeff)
    return fail('MALFORMED_JSON', 'the document starts with a byte order mark; send UTF-8 without one');
  const { tooDeep, tooWide, members } = scan(text, maxDepth, maxMembers);
  if (tooDeep) return fail('JSON_TOO_DEEP', `objects and arrays nest more than ${maxDepth} levels deep`);
  if (tooWide) return fail('JSON_TOO_DEEP', `an object holds more than ${maxMembers} members`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('MALFORMED_JSON', 'the document is not valid JSON');
  }
  // Optimization: in well-formed UTF-8 JSON, a NUL or a surrogate can only be written as a `\u`
  // escape (raw control characters are invalid JSON, encoded surrogates invalid UTF-8). Text without
  // any `\u` needs no per-string check; the publish path rarely sees one.
  const checkText = text.indexOf('\\u') !== -1 || (typeof raw === 'string' && !text.isWellFormed());
  const state: Walk = { members: 0, checkText };
  const at = walk(value, state);
  if (at !== undefined && state.error) return fail(state.error.code, state.error.message, at);
  if (state.members !== members)
    return fail('MALFORMED_JSON', 'an object holds the same member name more than once');
  return { ok: true, value };
}

/**
 * Whether `s` is base64url (RFC 4648 §5, no padding) in its one canonical spelling: the unused low
 * bits of the last character are zero, so no two spellings decode to the same bytes.
 */
export function isCanonicalBase64url(s: string): boolean {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return false;
  return Buffer.from(s, 'base64url').toString('base64url') === s;
}
