/**
 * Firmware reports (`d/{deviceId}/state/firmware` and `PUT /v1/device/firmware`): the version a device
 * runs (Semantic Versioning 2.0.0) and its hardware class. One parser for both paths, so both refuse
 * the same input with the same code (`INVALID_FIRMWARE_REPORT`).
 */
import { Type, type Static } from '@sinclair/typebox';

export const FIRMWARE_LIMITS = {
  maxVersionLength: 64,
  maxHardwareClassLength: 64,
  /** Largest major, minor and patch number (they are stored as 32-bit integers). */
  maxVersionNumber: 2_147_483_647,
  /** Longest numeric pre-release identifier, in digits (it is zero-padded in the sort key). */
  maxPrereleaseDigits: 10,
} as const;

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
export const HARDWARE_CLASS_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';
const HARDWARE_CLASS = new RegExp(HARDWARE_CLASS_PATTERN);

export const SEMVER_OPTIONS = {
  minLength: 5,
  maxLength: FIRMWARE_LIMITS.maxVersionLength,
  pattern: SEMVER.source,
} as const;
export const SemverSchema = Type.String({
  ...SEMVER_OPTIONS,
  description: 'a Semantic Versioning 2.0.0 version, e.g. 1.10.0 or 2.0.0-rc.1',
});
export const HardwareClassSchema = Type.String({
  minLength: 1,
  maxLength: FIRMWARE_LIMITS.maxHardwareClassLength,
  pattern: HARDWARE_CLASS_PATTERN,
  description: 'the board or product variant the firmware is built for, e.g. gw-v2',
});

export const FirmwareReportSchema = Type.Object(
  { version: SemverSchema, hardwareClass: HardwareClassSchema },
  { additionalProperties: false },
);
export type FirmwareReport = Static<typeof FirmwareReportSchema>;

/**
 * A version's place in the order, as columns SQL compares as a row `(major, minor, patch, pre)`:
 * `pre` is `~` for a release (after every pre-release), else each pre-release identifier, numeric ones
 * as `0` + 10 zero-padded digits and alphanumeric ones as `1` + the identifier, joined by a space. In
 * byte order (`COLLATE "C"`) this is the precedence of SemVer §11: 1.9.0 < 1.10.0, 1.0.0-rc.1 <
 * 1.0.0-rc.2 < 1.0.0-rc.10 < 1.0.0, numeric identifiers before alphanumeric ones, a shorter set of
 * identifiers first. Build metadata (`+…`) does not take part.
 */
export interface VersionKey {
  major: number;
  minor: number;
  patch: number;
  pre: string;
}

export const RELEASE_KEY = '~';

export type SemverResult = { ok: true; key: VersionKey } | { ok: false; message: string };

/** Parses a SemVer 2.0.0 version into its sort key, within the stored limits. */
export function parseSemver(version: unknown): SemverResult {
  if (typeof version !== 'string') return { ok: false, message: 'version must be a string' };
  if (version.length > FIRMWARE_LIMITS.maxVersionLength)
    return { ok: false, message: `version is limited to ${FIRMWARE_LIMITS.maxVersionLength} characters` };
  const m = SEMVER.exec(version);
  if (!m) return { ok: false, message: 'version must be a Semantic Versioning 2.0.0 version such as 1.4.2' };
  const [major, minor, patch] = [m[1]!, m[2]!, m[3]!].map(Number) as [number, number, number];
  if ([major, minor, patch].some((n) => n > FIRMWARE_LIMITS.maxVersionNumber))
    return { ok: false, message: `major, minor and patch are at most ${FIRMWARE_LIMITS.maxVersionNumber}` };
  let pre = RELEASE_KEY;
  if (m[4] !== undefined) {
    const ids = m[4].split('.');
    if (ids.some((id) => /^\d+$/.test(id) && id.length > FIRMWARE_LIMITS.maxPrereleaseDigits))
      return {
        ok: false,
        message: `numeric pre-release identifiers have at most ${FIRMWARE_LIMITS.maxPrereleaseDigits} digits`,
      };
    pre = ids.map((id) => (/^\d+$/.test(id) ? `0${id.padStart(10, '0')}` : `1${id}`)).join(' ');
  }
  return { ok: true, key: { major, minor, patch, pre } };
}

/** Compares two versions by SemVer precedence: negative, zero or positive. */
export function compareVersionKeys(a: VersionKey, b: VersionKey): number {
  return (
    a.major - b.major ||
    a.minor - b.minor ||
    a.patch - b.patch ||
    (a.pre < b.pre ? -1 : a.pre > b.pre ? 1 : 0)
  );
}

export interface ParsedFirmwareReport extends FirmwareReport {
  key: VersionKey;
}

export type FirmwareParseResult =
  | { ok: true; value: ParsedFirmwareReport }
  | { ok: false; error: { code: 'INVALID_FIRMWARE_REPORT'; message: string; path: string } };

function refuse(message: string, path: string): FirmwareParseResult {
  return { ok: false, error: { code: 'INVALID_FIRMWARE_REPORT', message, path } };
}

/** Validates a decoded firmware report `{version, hardwareClass}`. */
export function parseFirmwareReport(body: unknown): FirmwareParseResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return refuse('a firmware report must be an object {version, hardwareClass}', '');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'version' && k !== 'hardwareClass') return refuse(`unknown field '${k}'`, `/${k}`);
  const parsed = parseSemver(o.version);
  if (!parsed.ok) return refuse(parsed.message, '/version');
  if (typeof o.hardwareClass !== 'string' || !HARDWARE_CLASS.test(o.hardwareClass))
    return refuse(
      `hardwareClass must be 1 to ${FIRMWARE_LIMITS.maxHardwareClassLength} of A-Z a-z 0-9 _ . : -`,
      '/hardwareClass',
    );
  return {
    ok: true,
    value: { version: o.version as string, hardwareClass: o.hardwareClass, key: parsed.key },
  };
}
