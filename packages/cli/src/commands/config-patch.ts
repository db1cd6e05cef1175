/**
 * What `mooring config` builds and prints without a server: the merge patch of `config set` from
 * `--patch`/`--file` and `--set`/`--unset`, the `If-Match` header, and the rows of `config get`.
 */
import { readFileSync } from 'node:fs';
import { isPlainObject, type ConfigDocument } from '@mooring/protocol';
import { parseJson } from '../act.js';
import { UsageError } from '../context.js';

export interface SetOptions {
  patch?: string;
  file?: string;
  set?: string[];
  unset?: string[];
  ifMatch?: string;
}

/** `a.b.c` as member names; an empty one (`a..b`, `.a`) is refused. */
function pathOf(text: string, option: string): string[] {
  const parts = text.split('.');
  if (parts.some((p) => p === ''))
    throw new UsageError(`${option} ${text}: a path is member names joined by dots, e.g. sampling.seconds`);
  return parts;
}

/** A `--set` value: JSON when it parses (3, true, "x", [1], {"a":1}, null), else the text itself. */
export function valueOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Puts `value` at `path` in `patch`, making the objects on the way; refuses to go through a value. */
function put(patch: ConfigDocument, path: string[], value: unknown, option: string): void {
  let node = patch;
  for (const [i, key] of path.slice(0, -1).entries()) {
    const next = node[key];
    if (next === undefined) node = node[key] = {};
    else if (isPlainObject(next)) node = next;
    else
      throw new UsageError(
        `${option} ${path.join('.')}: ${path.slice(0, i + 1).join('.')} is already set to ${JSON.stringify(next)} in this patch`,
      );
  }
  node[path[path.length - 1]!] = value;
}

/** The merge patch `config set` sends: the `--patch` or `--file` object, then each `--set` and `--unset`. */
export function buildPatch(o: SetOptions, read: (file: string) => string = readText): ConfigDocument {
  if (o.patch !== undefined && o.file !== undefined) throw new UsageError('give --patch or --file, not both');
  let patch: ConfigDocument = {};
  const text = o.patch ?? (o.file !== undefined ? read(o.file) : undefined);
  if (text !== undefined) {
    const parsed = parseJson(text, o.patch !== undefined ? '--patch' : o.file!);
    if (!isPlainObject(parsed)) throw new UsageError('the patch must be a JSON object (a JSON Merge Patch)');
    patch = structuredClone(parsed);
  }
  for (const pair of o.set ?? []) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new UsageError(`--set expects key.path=value, got '${pair}'`);
    put(patch, pathOf(pair.slice(0, i), '--set'), valueOf(pair.slice(i + 1)), '--set');
  }
  for (const path of o.unset ?? []) put(patch, pathOf(path, '--unset'), null, '--unset');
  if (text === undefined && !o.set?.length && !o.unset?.length)
    throw new UsageError('nothing to change: give --patch, --file, --set or --unset');
  return patch;
}

/** A file's text; a file that cannot be read is a usage error. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** `--if-match 3` (or `"3"`) as the header the API takes. */
export function ifMatchHeader(value: string | undefined): Record<string, string> {
  if (value === undefined) return {};
  const m = /^"?(\d{1,15})"?$/.exec(value.trim());
  if (!m) throw new UsageError(`--if-match takes a desired version (a whole number), got '${value}'`);
  return { 'if-match': `"${Number(m[1])}"` };
}

interface Meta {
  version: number;
  at: number;
  by: string;
}
interface Side {
  version: number;
  document: ConfigDocument;
  metadata: Record<string, Meta>;
  updatedAt: number | null;
}
export interface DeviceConfigView {
  deviceId: string;
  desired: Side;
  reported: Side;
  acknowledgedVersion: number;
  acknowledgedAt: number | null;
  pending: ConfigDocument;
}

const json = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));
const when = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : '');

/** The summary lines of `config get`. */
export function summary(c: DeviceConfigView): Record<string, unknown> {
  const pending = Object.keys(c.pending).sort();
  return {
    device: c.deviceId,
    desired:
      `version ${c.desired.version}` + (c.desired.updatedAt ? `, changed ${when(c.desired.updatedAt)}` : ''),
    reported:
      `version ${c.reported.version}` +
      (c.reported.updatedAt ? `, changed ${when(c.reported.updatedAt)}` : ''),
    acknowledged:
      `version ${c.acknowledgedVersion}` +
      (c.acknowledgedAt ? ` at ${when(c.acknowledgedAt)}` : '') +
      (c.acknowledgedVersion < c.desired.version
        ? ` (${c.desired.version - c.acknowledgedVersion} behind)`
        : ''),
    pending: pending.length ? pending.join(', ') : 'none',
  };
}

/** One row per top-level member of either document: both values, whether it is pending, who changed it. */
export function memberRows(c: DeviceConfigView): Record<string, unknown>[] {
  const keys = [...new Set([...Object.keys(c.desired.document), ...Object.keys(c.reported.document)])].sort();
  return keys.map((key) => {
    const d = c.desired.metadata[key];
    const r = c.reported.metadata[key];
    return {
      key,
      desired: json(c.desired.document[key]),
      reported: json(c.reported.document[key]),
      pending: key in c.pending ? 'yes' : '',
      desiredChange: d ? `v${d.version} ${when(d.at)} ${d.by}` : '',
      reportedChange: r ? `v${r.version} ${when(r.at)} ${r.by}` : '',
    };
  });
}
