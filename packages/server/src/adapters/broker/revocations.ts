/**
 * Notices to drop a device's sessions from the last minute, numbered. A CONNECT whose credential was
 * looked up before such a notice and whose session registers after it would otherwise miss it:
 * authentication takes a mark when it starts and refuses if a matching notice came since.
 */
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';

/** How long a notice is remembered, in ms: longer than any credential lookup takes. */
const REMEMBER_MS = 60_000;

export interface RevocationLog {
  /** The current position, taken when a credential lookup starts. */
  mark(): number;
  /** A notice arrived: `keyId` set drops only sessions of that credential. */
  record(deviceId: string, keyId?: string): void;
  /** Whether a notice matching `device` (and its credential) arrived after `mark`. */
  revokedSince(mark: number, device: AuthenticatedDevice): boolean;
}

export function createRevocationLog(now: () => number = Date.now): RevocationLog {
  let seq = 0;
  const recent: { seq: number; at: number; deviceId: string; keyId?: string }[] = [];
  return {
    mark: () => seq,
    record(deviceId, keyId) {
      const at = now();
      recent.push({ seq: ++seq, at, deviceId, ...(keyId ? { keyId } : {}) });
      while (recent.length > 0 && recent[0]!.at < at - REMEMBER_MS) recent.shift();
    },
    revokedSince: (mark, device) =>
      recent.some(
        (n) =>
          n.seq > mark &&
          n.deviceId === device.deviceId &&
          (n.keyId === undefined || n.keyId === device.credentialId),
      ),
  };
}
