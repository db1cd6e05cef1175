/** Fleet versions: the firmware distribution and the minimum supported version per hardware class. */
import type { Command } from 'commander';
import { act } from '../act.js';

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('firmware versions across the fleet');
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
