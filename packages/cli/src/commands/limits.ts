/**
 * Limits: the values that apply to the tenant (or one device), overrides set and cleared, and the
 * refusals by a limit.
 */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import type { LimitEvent, LimitValue } from '@mooring/protocol';
import { act } from '../act.js';
import { number } from './deployment-options.js';

type Value = typeof LimitValue.static;
type Event = typeof LimitEvent.static;

const dash = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v);
const window = (ms: number | null) => (ms === null ? 'at once' : `${ms / 1000} s`);

function table(ctx: Parameters<Parameters<typeof act>[0]>[0], items: Value[], device: boolean) {
  ctx.out.result(items, () =>
    ctx.out.table(
      items.map((v) => ({
        ...v,
        window: window(v.windowMs),
        overridable: v.overridable ?? 'no',
        tenantOverride: dash(v.tenantOverride),
        deviceOverride: dash(v.deviceOverride),
      })),
      device
        ? ['limit', 'scope', 'unit', 'window', 'default', 'tenantOverride', 'deviceOverride', 'effective']
        : ['limit', 'scope', 'unit', 'window', 'default', 'tenantOverride', 'effective', 'overridable'],
    ),
  );
}

export function registerLimits(program: Command): void {
  const limits = program
    .command('limits')
    .description("the tenant's limits and overrides, and the refusals by a limit");
  limits
    .command('show')
    .description('every limit: its default, the override and the value that applies')
    .option('--device <deviceId>', "one device's (with its own overrides)")
    .action(
      act(async (ctx, o: { device?: string }) => {
        const client = ctx.client();
        const r = o.device
          ? await client.op('getDeviceLimits', { deviceId: o.device })
          : await client.op('getTenantLimits', {});
        table(ctx, r.items, o.device !== undefined);
      }),
    );
  const set = async (
    ctx: Parameters<Parameters<typeof act>[0]>[0],
    items: { limit: string; value: number | null }[],
    device: string | undefined,
  ) => {
    const client = ctx.client();
    const r = device
      ? await client.op('setDeviceLimits', { deviceId: device }, { body: { items } })
      : await client.op('setTenantLimits', {}, { body: { items } });
    table(ctx, r.items, device !== undefined);
  };
  limits
    .command('set <limit> <value>')
    .description("override a limit for the tenant (or one device): at most the server's value")
    .option('--device <deviceId>', 'for this device only (its override beats the tenant’s)')
    .action(
      act(async (ctx, limit: string, value: string, o: { device?: string }) =>
        set(ctx, [{ limit, value: number('<value>', value) }], o.device),
      ),
    );
  limits
    .command('clear <limit>')
    .description("remove an override: the tenant's value (or the server's) applies again")
    .option('--device <deviceId>', "the device's override")
    .action(
      act(async (ctx, limit: string, o: { device?: string }) => set(ctx, [{ limit, value: null }], o.device)),
    );
  limits
    .command('events')
    .description('refusals by a limit, newest first (like refusals within 10 s are one event with a count)')
    .option('--limit-name <name>', 'only this limit, e.g. rest.requests_per_key')
    .option('--device <deviceId>', "only this device's")
    .option('--from <time>', 'since (epoch ms or RFC 3339; default 24 hours ago, at most 30 days ago)')
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (ctx, o: { limitName?: string; device?: string; from?: string; limit: string }) => {
        const max = number('--limit', o.limit);
        const rows: Event[] = [];
        for await (const e of ctx
          .client()
          .paginate<Event>(
            pathOf('listLimitEvents'),
            { name: o.limitName, deviceId: o.device, from: o.from },
            Math.min(500, max),
          )) {
          rows.push(e);
          if (rows.length >= max) break;
        }
        ctx.out.result(rows, () =>
          ctx.out.table(
            rows.map((e) => ({ ...e, device: e.deviceId ?? '-' })),
            ['at', 'limit', 'subject', 'device', 'configured', 'observed', 'count'],
          ),
        );
      }),
    );
}
