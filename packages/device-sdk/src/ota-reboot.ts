/**
 * What the OTA agent reports on the first start after an install (or after the firmware applied an
 * update in place): `succeeded` when the device runs the target version and the firmware's health
 * check passes; otherwise a rollback (the firmware's `rollback`, or the bootloader that already went
 * back) or a failure, each with the version the device runs.
 */
import type { OtaReport } from '@mooring/protocol';
import type { OtaPending } from './ota-store.js';
import type { OtaOptions } from './ota-types.js';

export async function settleInstalled(
  p: OtaPending,
  running: string,
  hooks: Pick<OtaOptions, 'confirmHealth' | 'rollback'>,
  /** Persists that a rollback began: a device that goes down in it reports the rollback next time. */
  rollingBack: () => Promise<void>,
): Promise<Omit<OtaReport, 'attempt'>> {
  if (p.phase === 'rolling_back')
    return { state: 'rolled_back', version: running, reason: 'the health check failed' };
  if (running !== p.version) {
    if (p.phase === 'installing')
      return {
        state: 'failed',
        code: 'INSTALL_INTERRUPTED',
        version: running,
        reason: `the device restarted while installing ${p.version}; it runs ${running}`,
      };
    return {
      state: 'rolled_back',
      version: running,
      reason: `after the reboot the device runs ${running}, not ${p.version}`,
    };
  }
  let healthy = true;
  let why = 'the health check failed';
  try {
    healthy = (await hooks.confirmHealth?.(p)) ?? true;
  } catch (e) {
    healthy = false;
    why = `the health check failed: ${(e as Error).message}`;
  }
  if (healthy) return { state: 'succeeded', version: running };
  if (!hooks.rollback) return { state: 'failed', code: 'UNHEALTHY', version: running, reason: why };
  await rollingBack();
  let now: string | void;
  try {
    now = await hooks.rollback(p);
  } catch (e) {
    return {
      state: 'failed',
      code: 'ROLLBACK_FAILED',
      version: running,
      reason: `${why}; the rollback failed: ${(e as Error).message}`,
    };
  }
  return { state: 'rolled_back', version: typeof now === 'string' ? now : p.fromVersion, reason: why };
}
