/**
 * What a change of one side of the twin is, apart from where it is written: the patch checked, merged
 * (RFC 7396) into the document, checked against the limits and the schemas, and the new version with
 * its per-member metadata. The single-device path (`service.ts`) and the bulk one (`bulk.ts`) share it.
 */
import {
  applyMergePatch,
  checkConfigLimits,
  diffMergePatch,
  isPlainObject,
  type ConfigDocument,
} from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import type { ConfigMemberMeta, ConfigSideName } from './config.js';
import type { ConfigRow } from './store.js';

/** CONFIG_LIMIT_EXCEEDED when `value` goes past a limit; `at` is where the value sits in the request. */
export function limitError(value: unknown, what: 'document' | 'patch', at = ''): void {
  const breach = checkConfigLimits(value, what);
  if (!breach) return;
  const { message, ...details } = breach;
  throw new AppError('CONFIG_LIMIT_EXCEEDED', message, {
    details,
    ...(breach.path ? { errors: [{ path: `${at}${breach.path}`, message }] } : {}),
  });
}

/** A JSON Merge Patch as a request carries it (`at`: where in the request), or a 4xx problem. */
export function parseDesiredPatch(patch: unknown, at = ''): ConfigDocument {
  if (!isPlainObject(patch))
    throw Errors.validation('the body must be a JSON object: a JSON Merge Patch (RFC 7396)', [
      { path: at, message: 'must be an object' },
    ]);
  limitError(patch, 'patch', at);
  return patch;
}

/** Members `patch` names, with the version, time and actor of this change; deleted ones dropped. */
function touch(
  meta: Record<string, ConfigMemberMeta>,
  patch: ConfigDocument,
  stamp: ConfigMemberMeta,
): Record<string, ConfigMemberMeta> {
  const next = { ...meta };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else next[key] = stamp;
  }
  return next;
}

export interface PlannedChange {
  after: ConfigDocument;
  version: number;
  meta: Record<string, ConfigMemberMeta>;
}

/**
 * The side after `patch`: undefined when nothing changes (no version is made). Throws
 * CONFIG_LIMIT_EXCEEDED for a document over its limits, and whatever `check` throws (the schemas).
 */
export function planChange(
  row: ConfigRow,
  side: ConfigSideName,
  patch: ConfigDocument,
  actor: string,
  at: number,
  check?: (document: ConfigDocument) => void,
): PlannedChange | undefined {
  const before = row[side];
  const after = applyMergePatch(before, patch) as ConfigDocument;
  limitError(after, 'document');
  if (Object.keys(diffMergePatch(before, after)).length === 0) return undefined;
  check?.(after);
  const version = Number(row[`${side}_version`]) + 1;
  return { after, version, meta: touch(row[`${side}_meta`], patch, { version, at, by: actor }) };
}
