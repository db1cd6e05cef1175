/**
 * The delta of a configuration twin as the device page shows it: the members of the desired
 * document whose value the reported document does not hold (absent, or another value; objects are
 * compared member by member, whatever their order).
 */

/** JSON text with object members in a stable order, to compare two values. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** The desired members whose value differs from the reported one (or that are not reported). */
export function delta(desired: Record<string, unknown>, reported: Record<string, unknown>): string[] {
  return Object.keys(desired)
    .filter((k) => !Object.hasOwn(reported, k) || canonical(desired[k]) !== canonical(reported[k]))
    .sort();
}
