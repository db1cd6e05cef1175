/**
 * The order of firmware versions, for showing them: Semantic Versioning 2.0.0 precedence (§11), so
 * 1.9.0 comes before 1.10.0 and 2.0.0-rc.1 before 2.0.0; build metadata (`+…`) takes no part. The
 * server stores and compares versions the same way (`@mooring/protocol`'s firmware.ts); the console
 * has its own few lines so as not to bundle that module's schemas. Versions reach the console already
 * validated; one that is not SemVer sorts after those that are, by its text.
 */
const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

const NUMERIC = /^\d+$/;

function compareIdentifiers(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  // §11.4.1-3: numeric identifiers compare as numbers and come before alphanumeric ones.
  if (an && bn) return Number(a) - Number(b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative when `a` comes before `b`, positive after, 0 for the same precedence. */
export function compareVersions(a: string, b: string): number {
  const ma = SEMVER.exec(a);
  const mb = SEMVER.exec(b);
  if (!ma || !mb) return ma ? -1 : mb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(ma[i]) - Number(mb[i]);
    if (d !== 0) return d;
  }
  const pa = ma[4];
  const pb = mb[4];
  // §11.3: a pre-release comes before its release.
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  const ia = pa.split('.');
  const ib = pb.split('.');
  for (let i = 0; i < Math.min(ia.length, ib.length); i++) {
    const d = compareIdentifiers(ia[i]!, ib[i]!);
    if (d !== 0) return d;
  }
  // §11.4.4: with equal identifiers so far, the longer set comes after.
  return ia.length - ib.length;
}
