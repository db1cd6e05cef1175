/**
 * Deployments (docs/ota.md): an artifact rolled out to a snapshot of devices in phases; list, show,
 * the devices' operations, pause/resume/abort/stop, cancel one device, a live `watch`, and the
 * tenant's emergency stop.
 */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import { DEPLOYMENT_STATUSES, OTA_FINAL_STATES, OTA_STATES } from '@mooring/protocol';
import { act, collect } from '../act.js';
import { UsageError } from '../context.js';
import { createOutput, type Output } from '../output.js';

export { createBody, parsePhases, type CreateOptions, type Deployment } from './deployment-options.js';
import {
  createBody,
  duration,
  FINISHED,
  number,
  TIMEOUT_STATES,
  type CreateOptions,
  type Deployment,
  type DeploymentDevice,
} from './deployment-options.js';

const when = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : '');

function phaseText(d: Deployment): string {
  const p = d.phases[d.currentPhase];
  if (!p) return `${d.currentPhase + 1} of ${d.phases.length}`;
  const soak = d.soakUntil && d.status === 'active' ? `, soaking until ${when(d.soakUntil)}` : '';
  return `${d.currentPhase + 1} of ${d.phases.length}: ${p.percent} % (${p.devices} device${p.devices === 1 ? '' : 's'})${soak}`;
}

function doneCount(d: Deployment): number {
  return OTA_FINAL_STATES.reduce((n, s) => n + (d.counts[s] ?? 0), 0);
}

function statusText(d: Deployment): string {
  const why = [d.statusCode, d.statusReason].filter(Boolean).join(': ');
  return why ? `${d.status} (${why})` : d.status;
}

/** The gate's last verdict; `at` adds when it was judged (left out where a line per change is printed). */
function gateText(d: Deployment, at = true): string {
  const gate = d.healthGate as { enabled?: boolean } | null;
  if (gate && gate.enabled === false) return 'off';
  if (!d.health) return 'not judged yet';
  return `${d.health.verdict}: ${d.health.reason}` + (at ? ` (${when(d.health.at)})` : '');
}

/** The counts per state, in the order an update walks them. */
function countRows(d: Deployment) {
  const known = OTA_STATES.filter((s) => d.counts[s]);
  const other = Object.keys(d.counts).filter((s) => d.counts[s] && !known.includes(s as never));
  return [...known, ...other].map((state) => ({
    state,
    devices: d.counts[state],
    share: d.total ? `${((100 * d.counts[state]!) / d.total).toFixed(1)} %` : '',
  }));
}

/** A deployment for people: what `show`, `create`, the actions and `watch` print. */
export function renderDeployment(out: Output, d: Deployment): void {
  const failedPercent = d.executions ? ((100 * d.failures) / d.executions).toFixed(1) : '0';
  const excluded = Object.entries(d.excluded)
    .filter(([, n]) => n)
    .map(([why, n]) => `${why} ${n}`)
    .join(', ');
  out.fields({
    id: d.id,
    name: d.name ?? undefined,
    artifact: `${d.artifactId} (${d.version}, ${d.hardwareClass})`,
    status: statusText(d),
    phase: phaseText(d),
    devices: `${d.total} targeted, ${doneCount(d)} finished` + (excluded ? `; left out: ${excluded}` : ''),
    executions: `${d.executions} ended, ${d.failures} failed (${failedPercent} %); aborts above ${d.statusRule.failurePercent} % once ${d.statusRule.minExecutions} ended`,
    healthGate: gateText(d),
    window: d.maintenanceWindow
      ? `${d.maintenanceWindow.cron} for ${d.maintenanceWindow.durationMinutes} min (${d.maintenanceWindow.timezone ?? 'UTC'})`
      : undefined,
    created: when(d.createdAt),
    finished: d.finishedAt ? when(d.finishedAt) : undefined,
  });
  out.line('');
  out.table(countRows(d), ['state', 'devices', 'share']);
  if (d.health) {
    out.line('');
    out.table(
      (['updated', 'control'] as const).map((cohort) => ({
        cohort,
        ...d.health![cohort],
        unhealthyPercent: d.health![cohort].unhealthyPercent.toFixed(1),
      })),
      [
        'cohort',
        'devices',
        'rebooting',
        'offline',
        'crashing',
        'unhealthy',
        'unhealthyPercent',
        'telemetryMean',
      ],
    );
  }
}

const deploymentColumns = [
  'id',
  'name',
  'version',
  'hardwareClass',
  'status',
  'phase',
  'total',
  'succeeded',
  'failures',
  'createdAt',
];
const listRow = (d: Deployment) => ({
  ...d,
  phase: `${d.currentPhase + 1}/${d.phases.length} (${d.phases[d.currentPhase]?.percent ?? '-'} %)`,
  succeeded: d.counts.succeeded ?? 0,
});

const deviceColumns = [
  'deviceId',
  'state',
  'attempt',
  'phase',
  'progress',
  'code',
  'reason',
  'fromVersion',
  'stateSince',
  'deadlineAt',
];

/** Renders into a string (for `watch`'s redraw). */
function rendered(d: Deployment): string {
  let text = '';
  const sink = { write: (s: string) => (text += s) };
  renderDeployment(createOutput(false, sink, sink), d);
  return text;
}

/** One line of progress: what `watch` prints per change when stdout is not a terminal. */
function progressLine(d: Deployment): string {
  const counts = countRows(d)
    .map((r) => `${r.state} ${r.devices}`)
    .join(', ');
  return `${d.status}, phase ${phaseText(d)}; ${counts || 'no device yet'}; health ${gateText(d, false)}`;
}

export function registerDeployments(program: Command): void {
  const deployments = program
    .command('deployments')
    .description('roll an artifact out to devices in phases (OTA)');

  deployments
    .command('create')
    .description('deploy an artifact to a snapshot of the devices it fits, in phases')
    .requiredOption('--artifact <artifactId>', 'the artifact to deploy')
    .option('--name <name>', 'a name for people')
    .option('--tag <tag>', 'target devices with this tag (repeatable: any of them)', collect)
    .option('--device <deviceId>', 'target this device (repeatable)', collect)
    .option(
      '--firmware-version <version>',
      "target devices running this version (repeatable; `--version` is the CLI's own)",
      collect,
    )
    .option('--below-version <version>', 'target devices running a version below this one')
    .option('--all', 'target every device the artifact fits (hardware class, minimum version, older version)')
    .option('--phases <list>', 'shares in percent ending at 100, e.g. 1,10,50,100 or 1:2h,10,100 (own soak)')
    .option('--soak <duration>', 'the wait after each phase of --phases before the next (3600, 1h)')
    .option('--max-in-flight <n>', 'devices between offer and a final state at once')
    .option('--abort-failures <percent>', 'abort when the failed share of ended executions exceeds this …')
    .option('--abort-after <n>', '… once at least this many ended')
    .option('--health-margin <points>', 'pause when updated devices are unhealthier than the control by more')
    .option('--health-min-sample <n>', 'updated devices needed before the health gate judges')
    .option('--health-window <duration>', 'how far back reboots and crashes count (3600, 1h)')
    .option('--health-max-reboots <n>', 'a device connecting more often than this in the window is rebooting')
    .option(
      '--health-telemetry <key:higher|lower:percent>',
      "also compare the cohorts' mean of a telemetry key",
    )
    .option('--no-health-gate', 'no health gate')
    .option('--retries <n>', 'further attempts after a failure or a timeout')
    .option('--retry-backoff <duration>', 'delay before the first retry, doubled for each next one')
    .option(
      '--window-cron <cron>',
      "new offers only in maintenance windows opening at this cron, e.g. '0 2 * * *'",
    )
    .option('--window-minutes <n>', 'how long each window stays open')
    .option('--window-tz <zone>', 'the IANA time zone of the cron (default UTC)')
    .option(
      '--timeout <state=duration>',
      `a state's timeout (repeatable; ${TIMEOUT_STATES.join(', ')})`,
      collect,
    )
    .option('--dry-run', 'print the request body and send nothing')
    .action(
      act(async (ctx, o: CreateOptions & { dryRun?: boolean }) => {
        const body = createBody(o);
        if (o.dryRun) {
          ctx.out.line(JSON.stringify(body, null, 2));
          return;
        }
        const d = await ctx.client().op('createDeployment', {}, { body });
        ctx.out.result(d, () => renderDeployment(ctx.out, d));
      }),
    );

  deployments
    .command('list')
    .description("the tenant's deployments, newest first")
    .option('--status <status>', DEPLOYMENT_STATUSES.join(', '))
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (ctx, o: { status?: string; limit: string }) => {
        const max = number('--limit', o.limit);
        const rows: Deployment[] = [];
        const items = ctx
          .client()
          .paginate<Deployment>(pathOf('listDeployments'), { status: o.status }, Math.min(500, max));
        for await (const d of items) {
          rows.push(d);
          if (rows.length >= max) break;
        }
        ctx.out.result(rows, () => ctx.out.table(rows.map(listRow), deploymentColumns));
      }),
    );

  deployments
    .command('show <deploymentId>')
    .description('a deployment: phase, devices per state, executions and failures, the health gate')
    .action(
      act(async (ctx, deploymentId: string) => {
        const d = await ctx.client().op('getDeployment', { deploymentId });
        ctx.out.result(d, () => renderDeployment(ctx.out, d));
      }),
    );

  deployments
    .command('devices <deploymentId>')
    .description("each targeted device's operation: state, attempt, progress, why it ended")
    .option('--state <state>', OTA_STATES.join(', '))
    .option('--limit <n>', 'at most this many')
    .action(
      act(async (ctx, deploymentId: string, o: { state?: string; limit?: string }) => {
        const max = o.limit === undefined ? Infinity : number('--limit', o.limit);
        const rows: DeploymentDevice[] = [];
        const items = ctx
          .client()
          .paginate<DeploymentDevice>(pathOf('listDeploymentDevices', { deploymentId }), { state: o.state });
        for await (const d of items) {
          rows.push(d);
          if (rows.length >= max) break;
        }
        ctx.out.result(rows, () => ctx.out.table(rows, deviceColumns));
      }),
    );

  const actions = [
    ['pause', 'pauseDeployment', 'stop offering; devices already offered go on'],
    ['resume', 'resumeDeployment', 'go on offering (also after the health gate paused it)'],
    [
      'abort',
      'abortDeployment',
      'end it (an operator decision): no new offer, a cancel to every device not yet installing',
    ],
    [
      'stop',
      'stopDeployment',
      'emergency stop of this deployment: no new offer, a cancel to every device not yet installing',
    ],
  ] as const;
  for (const [verb, op, what] of actions)
    deployments
      .command(`${verb} <deploymentId>`)
      .description(what)
      .option('--reason <text>', 'why (kept with the deployment and in the audit trail)')
      .action(
        act(async (ctx, deploymentId: string, o: { reason?: string }) => {
          const d = await ctx
            .client()
            .op(op, { deploymentId }, { body: o.reason !== undefined ? { reason: o.reason } : {} });
          ctx.out.result(d, () => renderDeployment(ctx.out, d));
        }),
      );

  deployments
    .command('cancel <deploymentId> <deviceId>')
    .description("cancel one device's operation (before it began installing)")
    .option('--reason <text>', 'why')
    .action(
      act(async (ctx, deploymentId: string, deviceId: string, o: { reason?: string }) => {
        const d = await ctx
          .client()
          .op(
            'cancelDeploymentDevice',
            { deploymentId, deviceId },
            { body: o.reason !== undefined ? { reason: o.reason } : {} },
          );
        ctx.out.result(d, () => ctx.out.fields(d, deviceColumns));
      }),
    );

  deployments
    .command('watch <deploymentId>')
    .description(
      'follow a deployment live until it completes, is aborted or stopped (exit 0 completed, 1 aborted or stopped)',
    )
    .option('--interval <duration>', 'time between polls', '1s')
    .action(
      act(async (ctx, deploymentId: string, o: { interval: string }) => {
        const ms = Math.max(1, duration('--interval', o.interval)) * 1000;
        const client = ctx.client();
        const tty = Boolean(process.stdout.isTTY) && !ctx.out.json;
        let interrupted = false;
        let wake: (() => void) | undefined;
        const onInterrupt = () => {
          interrupted = true;
          wake?.();
        };
        process.on('SIGINT', onInterrupt);
        let drawn = 0;
        let last = '';
        try {
          for (;;) {
            const d = await client.op('getDeployment', { deploymentId });
            if (ctx.out.json) process.stdout.write(JSON.stringify(d) + '\n');
            else if (tty) {
              const footer = FINISHED.has(d.status) ? d.status : '(Ctrl-C stops watching)';
              const text = `${rendered(d)}\n${new Date().toISOString()}  ${footer}\n`;
              process.stdout.write((drawn ? `\x1b[${drawn}A\x1b[0J` : '') + text);
              drawn = text.split('\n').length - 1;
            } else {
              const line = progressLine(d);
              if (line !== last) process.stdout.write(`${new Date().toISOString()} ${line}\n`);
              last = line;
            }
            if (FINISHED.has(d.status)) {
              if (d.status !== 'completed') process.exitCode = 1;
              return;
            }
            if (interrupted) break;
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, ms);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            if (interrupted) break;
          }
          ctx.out.note('Stopped watching; the deployment goes on.');
          process.exitCode = 130;
        } finally {
          process.off('SIGINT', onInterrupt);
        }
      }),
    );

  deployments
    .command('emergency-stop')
    .description(
      "the tenant's OTA emergency stop: stops every active deployment and refuses new ones until lifted",
    )
    .option('--reason <text>', 'why (with a stop)')
    .option('--lift', 'lift the stop (stopped deployments stay stopped)')
    .option('--status', 'only show whether a stop is in force')
    .action(
      act(async (ctx, o: { reason?: string; lift?: boolean; status?: boolean }) => {
        if (o.lift && o.status) throw new UsageError('--lift or --status, not both');
        if ((o.lift || o.status) && o.reason !== undefined)
          throw new UsageError('--reason goes with a stop, not with --lift or --status');
        const client = ctx.client();
        const s = o.status
          ? await client.op('getEmergencyStop')
          : o.lift
            ? await client.op('liftEmergencyStop')
            : await client.op(
                'setEmergencyStop',
                {},
                { body: o.reason !== undefined ? { reason: o.reason } : {} },
              );
        ctx.out.result(s, () => {
          ctx.out.fields({
            ...s,
            since: s.since ?? undefined,
            by: s.by ?? undefined,
            reason: s.reason ?? undefined,
          });
          if (!o.status && !o.lift && s.active)
            ctx.out.note('Lift it with: mooring deployments emergency-stop --lift');
        });
      }),
    );
}
