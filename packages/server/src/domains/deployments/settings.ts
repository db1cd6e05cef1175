/**
 * A deployment request resolved once, at creation: defaults filled in, phases turned into device
 * counts, the maintenance window checked. What is stored is what runs, so a later change of a default
 * never changes a running deployment.
 */
import { Cron } from 'croner';
import { AppError } from '../../errors.js';
import type { DeploymentCreate, DeploymentSettings, MaintenanceWindow, TimeoutState } from './deployments.js';

export const DEFAULT_PHASES = [
  { percent: 1, soakSeconds: 3600 },
  { percent: 10, soakSeconds: 3600 },
  { percent: 50, soakSeconds: 3600 },
  { percent: 100, soakSeconds: 0 },
];

/** Seconds a device may stay silent in each state before its operation times out. */
export const DEFAULT_TIMEOUTS: Record<TimeoutState, number> = {
  offered: 7 * 86_400,
  accepted: 3600,
  deferred: 86_400,
  downloading: 1800,
  downloaded: 3600,
  installing: 1800,
  rebooting: 900,
};

export const DEFAULT_STATUS_RULE = { failurePercent: 10, minExecutions: 10 };
export const DEFAULT_HEALTH_GATE = {
  enabled: true,
  marginPercent: 5,
  minSample: 20,
  windowSeconds: 3600,
  maxReboots: 2,
};
export const DEFAULT_RETRIES = { max: 2, backoffSeconds: 300 };

const invalid = (path: string, message: string) =>
  new AppError('VALIDATION_FAILED', message, { errors: [{ path, message }] });

/** The cron of a window, parsed; VALIDATION_FAILED naming the field when it is not one. */
export function windowCron(window: MaintenanceWindow): Cron {
  try {
    const cron = new Cron(window.cron, { timezone: window.timezone ?? 'UTC', paused: true });
    cron.nextRun(); // an unknown time zone is found only when a time is computed
    return cron;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (window.timezone !== undefined && /time ?zone/i.test(why))
      throw invalid('/maintenanceWindow/timezone', `not an IANA time zone: ${why}`);
    throw invalid('/maintenanceWindow/cron', `not a cron expression: ${why}`);
  }
}

/** Whether `now` lies inside a window: a window opened within the last `durationMinutes`. */
export function insideWindow(window: MaintenanceWindow, now: number): boolean {
  const opened = windowCron(window).nextRun(new Date(now - window.durationMinutes * 60_000 - 1));
  return opened !== null && opened.getTime() <= now;
}

/** When the next window opens after `now` (for the answer), or null. */
export function nextWindow(window: MaintenanceWindow, now: number): number | null {
  return windowCron(window).nextRun(new Date(now))?.getTime() ?? null;
}

export function resolveSettings(
  input: DeploymentCreate,
  artifact: { version: string; hardwareClass: string },
  total: number,
): DeploymentSettings {
  const phases = input.phases ?? DEFAULT_PHASES;
  let last = 0;
  phases.forEach((p, i) => {
    if (!(p.percent > last))
      throw invalid(`/phases/${i}/percent`, 'each phase must cover a larger share than the one before');
    last = p.percent;
  });
  if (last !== 100) throw invalid(`/phases/${phases.length - 1}/percent`, 'the last phase must cover 100 %');
  if (input.maintenanceWindow) windowCron(input.maintenanceWindow);
  const gate = { ...DEFAULT_HEALTH_GATE, ...input.healthGate };
  return {
    version: artifact.version,
    hardwareClass: artifact.hardwareClass,
    phases: phases.map((p) => ({
      percent: p.percent,
      soakSeconds: p.soakSeconds ?? 3600,
      devices: Math.min(total, Math.ceil((total * p.percent) / 100)),
    })),
    maxInFlight: input.maxInFlight ?? null,
    rate: input.rate
      ? {
          perMinute: input.rate.perMinute,
          factor: input.rate.factor ?? 2,
          increaseEvery: input.rate.increaseEvery ?? input.rate.perMinute,
        }
      : null,
    statusRule: input.statusRule ?? DEFAULT_STATUS_RULE,
    healthGate: {
      enabled: gate.enabled,
      marginPercent: gate.marginPercent,
      minSample: gate.minSample,
      windowSeconds: gate.windowSeconds,
      maxReboots: gate.maxReboots,
      telemetry: input.healthGate?.telemetry ?? null,
    },
    timeouts: { ...DEFAULT_TIMEOUTS, ...input.timeouts },
    retries: {
      max: input.retries?.max ?? DEFAULT_RETRIES.max,
      backoffSeconds: input.retries?.backoffSeconds ?? DEFAULT_RETRIES.backoffSeconds,
    },
    maintenanceWindow: input.maintenanceWindow ?? null,
  };
}

/** The delay before attempt `attempt + 1` after `attempt` ended badly. */
export function retryDelayMs(settings: DeploymentSettings, attempt: number): number {
  return settings.retries.backoffSeconds * 1000 * 2 ** Math.max(0, attempt - 1);
}

/** Offers still allowed in the minute of `now` under an exponential rate (Infinity without one). */
export function rateRoom(
  settings: DeploymentSettings,
  succeeded: number,
  used: { minute: number | null; offers: number },
  now: number,
): number {
  const r = settings.rate;
  if (!r) return Infinity;
  const perMinute = Math.min(
    1_000_000,
    Math.floor(r.perMinute * r.factor ** Math.floor(succeeded / r.increaseEvery)),
  );
  const spent = used.minute === Math.floor(now / 60_000) ? used.offers : 0;
  return Math.max(0, perMinute - spent);
}
