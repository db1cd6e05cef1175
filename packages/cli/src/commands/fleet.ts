/**
 * The fleet: the firmware distribution and the minimum supported version per hardware class, and the
 * recent failures and refusals of its devices.
 */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import { FLEET_PROBLEM_KINDS, type FleetProblem } from '@mooring/protocol';
import { act } from '../act.js';
import { oneOf } from './alert-options.js';
import { number } from './deployment-options.js';

type Problem = typeof FleetProblem.static;

export function registerFleet(program: Command): void {
  const fleet = program
    .command('fleet')
    .description('firmware versions across the fleet, and its recent failures and refusals');
  fleet
    .command('problems')
    .description(
      'recent failures and refusals, newest first: refused publishes and connects, failed updates, error events, lost connections, rejected provisioning',
    )
    .option('--kind <kind>', FLEET_PROBLEM_KINDS.join(', '))
    .option('--device <deviceId>', "only this device's")
    .option('--from <time>', 'since (epoch ms or RFC 3339; default 24 hours ago, at most 30 days ago)')
    .option('--counts', 'how many of each kind instead of the list')
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(
        async (
          ctx,
          o: { kind?: string; device?: string; from?: string; counts?: boolean; limit: string },
        ) => {
          const client = ctx.client();
          if (o.counts) {
            if (o.kind !== undefined) throw new Error('--counts counts every kind: leave out --kind');
            const c = await client.op(
              'countFleetProblems',
              {},
              { query: { deviceId: o.device, from: o.from } },
            );
            ctx.out.result(c, () => {
              ctx.out.table(c.items, ['kind', 'count']);
              ctx.out.note(`${c.total} since ${new Date(c.from).toISOString()}`);
            });
            return;
          }
          const max = number('--limit', o.limit);
          const query = {
            kind: o.kind === undefined ? undefined : oneOf('--kind', o.kind, FLEET_PROBLEM_KINDS),
            deviceId: o.device,
            from: o.from,
          };
          const rows: Problem[] = [];
          for await (const p of client.paginate<Problem>(
            pathOf('listFleetProblems'),
            query,
            Math.min(500, max),
          )) {
            rows.push(p);
            if (rows.length >= max) break;
          }
          ctx.out.result(rows, () =>
            ctx.out.table(
              rows.map((p) => ({ ...p, device: p.deviceName ?? p.deviceId ?? p.serial ?? '-' })),
              ['at', 'kind', 'device', 'code', 'count', 'message'],
            ),
          );
        },
      ),
    );
  fleet
    .command('versions')
    .description('devices by firmware version × hardware class, and how many are below the policy')
    .option('--by <what>', 'tag: split every count by device tag')
    .option('--tag <tag>', 'only devices with this tag')
    .action(
      act(async (ctx, o: { by?: string; tag?: string }) => {
        const v = await ctx.client().op('getFleetVersions', {}, { query: { by: o.by, tag: o.tag } });
        ctx.out.result(v, () => {
          ctx.out.table(
            v.items.map((i) => ({
              ...i,
              version: i.version ?? '(never reported)',
              hardwareClass: i.hardwareClass ?? '-',
              ...(o.by === 'tag' ? { tag: i.tag ?? '-' } : {}),
            })),
            o.by === 'tag'
              ? ['hardwareClass', 'version', 'tag', 'count']
              : ['hardwareClass', 'version', 'count'],
          );
          if (v.policy.length) ctx.out.table(v.policy, ['hardwareClass', 'minVersion', 'belowMinimum']);
          ctx.out.note(
            `${v.total} devices (${v.connected} connected, ${v.disabled} disabled), ${v.neverReported} never reported, ${v.belowMinimum} below the minimum version`,
          );
        });
      }),
    );
  const policy = fleet.command('policy').description('the minimum supported version per hardware class');
  policy
    .command('show')
    .description('the minimum version of each hardware class')
    .action(
      act(async (ctx) => {
        const p = await ctx.client().op('getFleetPolicy');
        ctx.out.result(p.items, () => ctx.out.table(p.items, ['hardwareClass', 'minVersion', 'updatedAt']));
      }),
    );
  policy
    .command('set')
    .description('set (or with --clear remove) the minimum version of one hardware class')
    .requiredOption('--hardware-class <class>', 'e.g. gw-v2')
    .option('--min-version <version>', 'a SemVer version, e.g. 1.10.0')
    .option('--clear', 'remove the minimum of this class')
    .action(
      act(async (ctx, o: { hardwareClass: string; minVersion?: string; clear?: boolean }) => {
        if (!o.clear && !o.minVersion) throw new Error('give --min-version <version> or --clear');
        const p = await ctx
          .client()
          .op(
            'setFleetPolicy',
            {},
            { body: { hardwareClass: o.hardwareClass, minVersion: o.clear ? null : o.minVersion! } },
          );
        ctx.out.result(p.items, () => ctx.out.table(p.items, ['hardwareClass', 'minVersion', 'updatedAt']));
      }),
    );
}
