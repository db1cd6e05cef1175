/**
 * The configuration twin's wire contract (docs/mqtt.md, docs/config.md). Each device has two JSON
 * documents: `desired` (written by operators) and `reported` (written by the device), each an object
 * with a version that grows by one per change. Both are changed by JSON Merge Patch (RFC 7396): a
 * member set to `null` is deleted, an object is merged member by member, anything else (arrays
 * included) replaces. A document built this way never holds a `null` member, so the difference of two
 * documents is itself a merge patch ({@link diffMergePatch}).
 *
 * Cloud → device, `d/{id}/config/desired` (QoS 1): `{version, baseVersion, patch}`. Applying `patch`
 * to the desired document at `baseVersion` gives the one at `version`; `baseVersion` 0 means the empty
 * document, so the patch is then the whole document. The platform sends the difference from the
 * version the device last acknowledged, on every (re)connect and after every change, without being
 * asked. A device whose own version is not `baseVersion` follows {@link desiredAction}: it ignores
 * a version it holds, acknowledges its own version again when the patch starts below it, and
 * otherwise publishes to `d/{id}/config/get` for the whole document.
 *
 * Device → cloud, `d/{id}/config/reported` (QoS 1): `{desiredVersion?, patch?}`. `desiredVersion`
 * acknowledges the desired version the device applied (acknowledgements only move forward);
 * `patch` changes the reported document.
 */
import { Type, type Static } from '@sinclair/typebox';
import { checkSchema } from './schema-check.js';

export const CONFIG_LIMITS = {
  /** Largest document (desired or reported), in bytes of its JSON. */
  maxDocumentBytes: 32 * 1024,
  /** Deepest nesting of a document, the top-level object counting as 1. */
  maxDepth: 10,
  /** Longest member name, in characters. */
  maxKeyLength: 128,
  /** Largest patch, in bytes of its JSON (a patch may delete as much as a document holds). */
  maxPatchBytes: 64 * 1024,
} as const;

/** Which limit a document or patch went past: the `limit` member of `CONFIG_LIMIT_EXCEEDED`. */
export type ConfigLimitName = 'documentBytes' | 'depth' | 'keyLength' | 'patchBytes';

export interface ConfigLimitBreach {
  limit: ConfigLimitName;
  max: number;
  actual: number;
  /** JSON Pointer to where it was found (depth, key length). */
  path?: string;
  message: string;
}

export type ConfigDocument = Record<string, unknown>;

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7396: the document `patch` makes of `target`. Neither argument is changed. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]));
  }
  const ak = Object.keys(a);
  const bo = b as Record<string, unknown>;
  return (
    ak.length === Object.keys(bo).length &&
    ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && deepEqual((a as ConfigDocument)[k], bo[k]))
  );
}

/**
 * The merge patch that turns `from` into `to` (both built by merge patches, so with no `null`
 * member): members gone become `null`, changed objects are diffed member by member, anything else
 * changed is given whole. `{}` when they are equal.
 */
export function diffMergePatch(from: ConfigDocument, to: ConfigDocument): ConfigDocument {
  const patch: ConfigDocument = {};
  for (const key of Object.keys(from)) if (!Object.prototype.hasOwnProperty.call(to, key)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const before = Object.prototype.hasOwnProperty.call(from, key) ? from[key] : undefined;
    if (isPlainObject(before) && isPlainObject(value)) {
      const inner = diffMergePatch(before, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (!deepEqual(before, value)) patch[key] = value;
  }
  return patch;
}

const pointer = (parts: readonly string[]) =>
  parts.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** The first member name over the length limit, and the deepest nesting (top level = 1). */
function shape(
  value: unknown,
  path: string[],
  found: { depth: number; deepest: string[]; longKey?: string[] },
) {
  if (typeof value !== 'object' || value === null) return;
  const depth = path.length + 1;
  if (depth > found.depth) {
    found.depth = depth;
    found.deepest = path;
  }
  if (depth > CONFIG_LIMITS.maxDepth + 1) return; // deep enough to name; the rest need no walk
  if (Array.isArray(value)) {
    value.forEach((v, i) => shape(v, [...path, String(i)], found));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (!found.longKey && key.length > CONFIG_LIMITS.maxKeyLength) found.longKey = [...path, key];
    shape(v, [...path, key], found);
  }
}

/**
 * Checks a document (or a patch, `what: 'patch'`) against the limits; the first breach found, by
 * size, then depth, then member name length. `json` is its serialization when the caller has it.
 */
export function checkConfigLimits(
  value: unknown,
  what: 'document' | 'patch' = 'document',
  json: string = JSON.stringify(value),
): ConfigLimitBreach | undefined {
  const bytes = Buffer.byteLength(json);
  const maxBytes = what === 'patch' ? CONFIG_LIMITS.maxPatchBytes : CONFIG_LIMITS.maxDocumentBytes;
  if (bytes > maxBytes) {
    return {
      limit: what === 'patch' ? 'patchBytes' : 'documentBytes',
      max: maxBytes,
      actual: bytes,
      message: `the ${what} is ${bytes} bytes of JSON; the limit is ${maxBytes}`,
    };
  }
  const found: { depth: number; deepest: string[]; longKey?: string[] } = { depth: 0, deepest: [] };
  shape(value, [], found);
  if (found.depth > CONFIG_LIMITS.maxDepth) {
    return {
      limit: 'depth',
      max: CONFIG_LIMITS.maxDepth,
      actual: found.depth,
      path: pointer(found.deepest),
      message: `the ${what} nests ${found.depth} levels deep; the limit is ${CONFIG_LIMITS.maxDepth}`,
    };
  }
  if (found.longKey) {
    const key = found.longKey[found.longKey.length - 1]!;
    return {
      limit: 'keyLength',
      max: CONFIG_LIMITS.maxKeyLength,
      actual: key.length,
      path: pointer(found.longKey),
      message: `a member name is ${key.length} characters long; the limit is ${CONFIG_LIMITS.maxKeyLength}`,
    };
  }
  return undefined;
}

const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** What the platform publishes on `d/{id}/config/desired` and the device API's long poll answers. */
export const DesiredConfigMessageSchema = Type.Object(
  {
    version: Type.Integer({
      minimum: 1,
      description: 'the desired version this message brings the device to',
    }),
    baseVersion: Type.Integer({
      minimum: 0,
      description:
        'the version the patch applies to; 0 = the empty document (the patch is the whole document)',
    }),
    patch: Type.Record(Type.String(), Type.Unknown(), { description: 'a JSON Merge Patch (RFC 7396)' }),
  },
  { additionalProperties: false },
);
export type DesiredConfigMessage = Static<typeof DesiredConfigMessageSchema>;

/** What a device publishes on `d/{id}/config/reported` or sends to the device API. */
export const ReportedConfigMessageSchema = Type.Object(
  {
    desiredVersion: Type.Optional(Version),
    patch: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type ReportedConfigMessage = Static<typeof ReportedConfigMessageSchema>;

export function parseReportedConfig(
  body: unknown,
): { ok: true; value: ReportedConfigMessage } | { ok: false; message: string; path: string } {
  const checked = checkSchema(ReportedConfigMessageSchema, body, {
    '': 'a configuration report must be an object {desiredVersion?, patch?}',
    desiredVersion: 'desiredVersion must be a whole number of at least 0',
    patch: 'patch must be an object (a JSON Merge Patch)',
  });
  if (!checked.ok) return checked;
  if (checked.value.desiredVersion === undefined && checked.value.patch === undefined)
    return { ok: false, message: 'a configuration report needs desiredVersion or patch', path: '' };
  return { ok: true, value: checked.value };
}

/**
 * What a device does with a desired message, holding `current` (0 when it holds nothing):
 * - `apply` the patch to what it holds (to `{}` when `baseVersion` is 0), then acknowledge `version`;
 * - `ignore` it: it holds that version or a later one (a redelivery);
 * - `acknowledge` its own version again: the patch starts from an older version than it holds, so the
 *   platform has not recorded its last acknowledgement (lost with a dropped connection, or still on
 *   its way); the platform answers with a patch from `current`;
 * - `resync`: it holds a version the platform never saw acknowledged and cannot patch from (it lost
 *   its state, or restored an old one): ask on `d/{id}/config/get` for the whole document.
 */
export function desiredAction(
  current: number,
  message: Pick<DesiredConfigMessage, 'version' | 'baseVersion'>,
): 'apply' | 'ignore' | 'acknowledge' | 'resync' {
  if (message.version <= current) return 'ignore';
  if (message.baseVersion === current || message.baseVersion === 0) return 'apply';
  if (message.baseVersion < current) return 'acknowledge';
  return 'resync';
}
