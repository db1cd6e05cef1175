/**
 * `deployments create`: its options turned into the request body, checked before any request (the
 * phases with their soak, durations, the health gate's telemetry rule).
 */
import type { OperationBody, OperationResponse } from '@mooring/client';
import { OtaTimeouts } from '@mooring/protocol';
import { seconds } from '../act.js';
import { UsageError } from '../context.js';

export type Deployment = OperationResponse<'getDeployment'>;
export type DeploymentDevice = OperationResponse<'cancelDeploymentDevice'>;
type CreateBody = OperationBody<'createDeployment'>;

/** Statuses a deployment never leaves: `watch` ends on them. */
export const FINISHED = new Set<string>(['completed', 'aborted', 'stopped']);
export const TIMEOUT_STATES = Object.keys(OtaTimeouts.properties);

export interface CreateOptions {
  artifact: string;
  name?: string;
  tag?: string[];
  device?: string[];
  firmwareVersion?: string[];
  belowVersion?: string;
  all?: boolean;
  phases?: string;
  soak?: string;
  maxInFlight?: string;
  abortFailures?: string;
  abortAfter?: string;
  healthGate?: boolean;
  healthMargin?: string;
  healthMinSample?: string;
  healthWindow?: string;
  healthMaxReboots?: string;
  healthTelemetry?: string;
  retries?: string;
  retryBackoff?: string;
  windowCron?: string;
  windowMinutes?: string;
  windowTz?: string;
  timeout?: string[];
}

export function number(flag: string, text: string, integer = true): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new UsageError(`${flag} '${text}' is not ${integer ? 'an integer' : 'a number'}`);
  return n;
}

export function duration(flag: string, text: string): number {
  try {
    return seconds(text);
  } catch {
    throw new UsageError(`${flag} '${text}' is not a duration (seconds, or e.g. 90s, 15m, 2h, 7d)`);
  }
}

/** `1,10,50,100` or with a soak per phase `1:2h,10:1h,50,100`; `soak` is the default soak. */
export function parsePhases(text: string, soak?: string): NonNullable<CreateBody['phases']> {
  const soakSeconds = soak === undefined ? undefined : duration('--soak', soak);
  return text.split(',').map((item) => {
    const [percent, own, extra] = item.trim().split(':');
    if (extra !== undefined || !percent)
      throw new UsageError(`--phases: '${item}' is not <percent> or <percent>:<soak>`);
    const s = own !== undefined ? duration('--phases', own) : soakSeconds;
    return { percent: number('--phases', percent, false), ...(s !== undefined ? { soakSeconds: s } : {}) };
  });
}

/** The body of `POST /v1/deployments` from the options of `deployments create`. */
export function createBody(o: CreateOptions): CreateBody {
  const both = (a: [string, unknown], b: [string, unknown]) => {
    if ((a[1] === undefined) !== (b[1] === undefined))
      throw new UsageError(`${a[0]} and ${b[0]} go together: give both or neither`);
  };
  const target: CreateBody['target'] = {
    ...(o.tag?.length ? { tags: o.tag } : {}),
    ...(o.device?.length ? { deviceIds: o.device } : {}),
    ...(o.firmwareVersion?.length ? { versions: o.firmwareVersion } : {}),
    ...(o.belowVersion ? { belowVersion: o.belowVersion } : {}),
  };
  const narrowed = Object.keys(target).length > 0;
  if (!narrowed && !o.all)
    throw new UsageError(
      'no target: name devices with --tag, --device, --firmware-version or --below-version, or pass --all for every device the artifact fits',
    );
  if (narrowed && o.all)
    throw new UsageError('--all targets every device: leave out the other target options');

  if (o.soak !== undefined && o.phases === undefined)
    throw new UsageError('--soak applies to the phases of --phases (e.g. --phases 1,10,50,100 --soak 1h)');
  both(['--abort-failures', o.abortFailures], ['--abort-after', o.abortAfter]);
  both(['--window-cron', o.windowCron], ['--window-minutes', o.windowMinutes]);
  if (o.windowTz !== undefined && o.windowCron === undefined)
    throw new UsageError('--window-tz goes with --window-cron and --window-minutes');
  if (o.retryBackoff !== undefined && o.retries === undefined)
    throw new UsageError('--retry-backoff goes with --retries');

  const health = {
    ...(o.healthMargin !== undefined
      ? { marginPercent: number('--health-margin', o.healthMargin, false) }
      : {}),
    ...(o.healthMinSample !== undefined
      ? { minSample: number('--health-min-sample', o.healthMinSample) }
      : {}),
    ...(o.healthWindow !== undefined ? { windowSeconds: duration('--health-window', o.healthWindow) } : {}),
    ...(o.healthMaxReboots !== undefined
      ? { maxReboots: number('--health-max-reboots', o.healthMaxReboots) }
      : {}),
    ...(o.healthTelemetry !== undefined ? { telemetry: telemetryRule(o.healthTelemetry) } : {}),
  };
  if (o.healthGate === false && Object.keys(health).length > 0)
    throw new UsageError('--no-health-gate turns the gate off: leave out the --health-… options');

  let timeouts: Record<string, number> | undefined;
  for (const pair of o.timeout ?? []) {
    const i = pair.indexOf('=');
    const state = pair.slice(0, i);
    if (i <= 0 || !TIMEOUT_STATES.includes(state))
      throw new UsageError(
        `--timeout '${pair}': expected <state>=<duration>, state one of ${TIMEOUT_STATES.join(', ')}`,
      );
    (timeouts ??= {})[state] = duration('--timeout', pair.slice(i + 1));
  }

  return {
    artifactId: o.artifact,
    ...(o.name !== undefined ? { name: o.name } : {}),
    target,
    ...(o.phases !== undefined ? { phases: parsePhases(o.phases, o.soak) } : {}),
    ...(o.maxInFlight !== undefined ? { maxInFlight: number('--max-in-flight', o.maxInFlight) } : {}),
    ...(o.abortFailures !== undefined
      ? {
          statusRule: {
            failurePercent: number('--abort-failures', o.abortFailures, false),
            minExecutions: number('--abort-after', o.abortAfter!),
          },
        }
      : {}),
    ...(o.healthGate === false
      ? { healthGate: { enabled: false } }
      : Object.keys(health).length
        ? { healthGate: health }
        : {}),
    ...(timeouts ? { timeouts } : {}),
    ...(o.retries !== undefined
      ? {
          retries: {
            max: number('--retries', o.retries),
            ...(o.retryBackoff !== undefined
              ? { backoffSeconds: duration('--retry-backoff', o.retryBackoff) }
              : {}),
          },
        }
      : {}),
    ...(o.windowCron !== undefined
      ? {
          maintenanceWindow: {
            cron: o.windowCron,
            durationMinutes: number('--window-minutes', o.windowMinutes!),
            ...(o.windowTz !== undefined ? { timezone: o.windowTz } : {}),
          },
        }
      : {}),
  };
}

/** `temperature:higher:10`: the key (which may hold colons), which way is worse, the margin in percent. */
function telemetryRule(text: string) {
  const parts = text.split(':');
  const margin = parts.pop();
  const worseWhen = parts.pop();
  const key = parts.join(':');
  if (!key || (worseWhen !== 'higher' && worseWhen !== 'lower') || margin === undefined)
    throw new UsageError(`--health-telemetry '${text}': expected <key>:<higher|lower>:<margin percent>`);
  return { key, worseWhen, marginPercent: number('--health-telemetry', margin, false) } as const;
}
