/**
 * Alerts (docs/alerts.md): the tenant's alert rules (list, show, create and update from flags or a
 * JSON file, delete) and the alerts they raise (list by state, device or rule; show, acknowledge,
 * resolve).
 */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import type { AlertAnswer } from '@mooring/protocol';
import { act, collect } from '../act.js';
import type { Ctx } from '../context.js';
import {
  ABSENCE_OF,
  ALERT_STATES,
  KINDS,
  OPS,
  SEVERITIES,
  conditionText,
  inputOf,
  oneOf,
  ruleBody,
  targetText,
  type Rule,
  type RuleOptions,
} from './alert-options.js';
import { number } from './deployment-options.js';

type Alert = typeof AlertAnswer.static;

const ruleRow = (r: Rule) => ({ ...r, condition: conditionText(r), target: targetText(r) });

function showRule(ctx: Ctx, r: Rule): void {
  ctx.out.result(r, () =>
    ctx.out.fields({
      id: r.id,
      name: r.name,
      kind: r.kind,
      severity: r.severity,
      enabled: r.enabled,
      condition: conditionText(r),
      target: targetText(r),
      createdAt: r.createdAt,
      createdBy: r.createdBy ?? undefined,
      updatedAt: r.updatedAt,
    }),
  );
}

function showAlert(ctx: Ctx, a: Alert): void {
  ctx.out.result(a, () =>
    ctx.out.fields(Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v === null ? undefined : v])), [
      'id',
      'state',
      'severity',
      'ruleName',
      'ruleId',
      'deviceId',
      'kind',
      'reason',
      'value',
      'firedAt',
      'acknowledgedAt',
      'acknowledgedBy',
      'resolvedAt',
      'resolvedBy',
      'resolvedValue',
      'resolution',
      'updatedAt',
    ]),
  );
}

/** The flags of `rules create` and `rules update`. */
function ruleOptions(c: Command): Command {
  return c
    .option('--name <name>', 'a name for people')
    .option('--kind <kind>', `${KINDS.join(' or ')} (default: from the condition flags given)`)
    .option('--key <key>', 'threshold: the telemetry key judged')
    .option('--op <op>', `threshold: ${OPS.join(', ')} (or gt, ge, lt, le)`)
    .option('--value <number>', 'threshold: breached when `latest op value`')
    .option('--clear-value <number>', 'threshold: a firing alert resolves past this (default: --value)')
    .option('--for <duration>', 'threshold: how long the breach must hold before it fires (60, 5m)')
    .option('--minutes <n>', 'absence: how long the silence must last')
    .option('--of <what>', `absence: ${ABSENCE_OF.join(' (no reading) or ')} (offline)`)
    .option('--severity <severity>', SEVERITIES.join(', ') + ' (default warning)')
    .option('--tag <tag>', 'judge devices with this tag (repeatable: any of them)', collect)
    .option('--device <deviceId>', 'judge this device (repeatable)', collect)
    .option('--disabled', 'the rule is not judged (its open alerts resolve)')
    .option('--file <file>', 'the rule as JSON (the body of the API); flags given change it');
}

export function registerAlerts(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('alert rules on telemetry and presence, and the alerts they raise');

  const rules = alerts.command('rules').description('the rules the platform judges every 5 seconds');
  rules
    .command('list')
    .description("the tenant's alert rules")
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listAlertRules');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items.map(ruleRow), [
            'id',
            'name',
            'kind',
            'severity',
            'enabled',
            'condition',
            'target',
            'updatedAt',
          ]),
        );
      }),
    );
  rules
    .command('show <ruleId>')
    .description('a rule: its condition, target, severity and whether it is judged')
    .action(
      act(async (ctx, ruleId: string) => {
        showRule(ctx, await ctx.client().op('getAlertRule', { ruleId }));
      }),
    );
  ruleOptions(
    rules
      .command('create')
      .description(
        "add a rule, e.g. --name 'too hot' --key temp --op '>' --value 80 --clear-value 70 --for 1m --tag plant",
      ),
  )
    .option('--dry-run', 'print the request body and send nothing')
    .action(
      act(async (ctx, o: RuleOptions & { dryRun?: boolean }) => {
        const body = ruleBody(o);
        if (o.dryRun) return ctx.out.line(JSON.stringify(body, null, 2));
        showRule(ctx, await ctx.client().op('createAlertRule', {}, { body }));
      }),
    );
  ruleOptions(
    rules
      .command('update <ruleId>')
      .description(
        'change a rule: the flags given (or --file) on top of the rule as it is; a new condition, kind or target resolves its open alerts',
      ),
  )
    .option('--enabled', 'judge the rule again')
    .option('--every-device', 'judge every device of the tenant (drops --tag and --device targets)')
    .option('--dry-run', 'print the request body and send nothing')
    .action(
      act(async (ctx, ruleId: string, o: RuleOptions & { dryRun?: boolean }) => {
        const client = ctx.client();
        const body = ruleBody(o, inputOf(await client.op('getAlertRule', { ruleId })));
        if (o.dryRun) return ctx.out.line(JSON.stringify(body, null, 2));
        showRule(ctx, await client.op('putAlertRule', { ruleId }, { body }));
      }),
    );
  rules
    .command('delete <ruleId>')
    .description('remove a rule: its open alerts resolve (rule_deleted); its alerts are kept')
    .action(
      act(async (ctx, ruleId: string) => {
        await ctx.client().op('deleteAlertRule', { ruleId });
        ctx.out.result({ deleted: ruleId }, () => ctx.out.line(`Deleted the alert rule ${ruleId}.`));
      }),
    );

  alerts
    .command('list')
    .description('alerts, newest first')
    .option('--state <state>', `${ALERT_STATES.join(', ')} (open: firing or acknowledged)`)
    .option('--device <deviceId>', "only this device's")
    .option('--rule <ruleId>', "only this rule's")
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (ctx, o: { state?: string; device?: string; rule?: string; limit: string }) => {
        const max = number('--limit', o.limit);
        const query = {
          state: o.state === undefined ? undefined : oneOf('--state', o.state, ALERT_STATES),
          deviceId: o.device,
          ruleId: o.rule,
        };
        const rows: Alert[] = [];
        for await (const a of ctx.client().paginate<Alert>(pathOf('listAlerts'), query, Math.min(500, max))) {
          rows.push(a);
          if (rows.length >= max) break;
        }
        ctx.out.result(rows, () =>
          ctx.out.table(rows, [
            'id',
            'state',
            'severity',
            'ruleName',
            'deviceId',
            'value',
            'reason',
            'firedAt',
            'resolution',
          ]),
        );
      }),
    );
  alerts
    .command('show <alertId>')
    .description('an alert: its rule, device, state, and who acknowledged or resolved it when')
    .action(
      act(async (ctx, alertId: string) => {
        showAlert(ctx, await ctx.client().op('getAlert', { alertId }));
      }),
    );
  const actions = [
    [
      'acknowledge',
      'acknowledgeAlert',
      'say someone is on it (a firing alert); it still resolves by its rule',
    ],
    [
      'resolve',
      'resolveAlert',
      'resolve it by hand (manual); a condition that still holds raises a new alert',
    ],
  ] as const;
  for (const [verb, op, what] of actions)
    alerts
      .command(`${verb} <alertId>`)
      .description(what)
      .option('--note <text>', 'why (kept in the audit trail)')
      .action(
        act(async (ctx, alertId: string, o: { note?: string }) => {
          const body = o.note !== undefined ? { note: o.note } : {};
          showAlert(ctx, await ctx.client().op(op, { alertId }, { body }));
        }),
      );
}
