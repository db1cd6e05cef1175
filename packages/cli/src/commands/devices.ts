/** Devices and what hangs off them: access keys, presence, telemetry, events, commands, ownership. */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import { DEVICE_SORTS, type DeviceSort } from '@mooring/protocol';
import { act, collect, keyValues, seconds, timeArg } from '../act.js';
import { UsageError } from '../context.js';

type Row = Record<string, unknown>;

interface ListOptions {
  tag?: string;
  status?: string;
  connected?: string;
  firmwareVersion?: string;
  hardwareClass?: string;
  belowVersion?: string;
  belowMinimum?: boolean;
  lastSeenBefore?: string;
  lastSeenAfter?: string;
  neverSeen?: boolean;
  seen?: boolean;
  certificateExpiresBefore?: string;
  sort?: string;
  limit?: string;
}

/** `--sort`, checked before any request so that a typo is a usage error naming the choices. */
function sortOf(sort: string | undefined): { sort?: DeviceSort } {
  if (sort === undefined) return {};
  if (!(DEVICE_SORTS as readonly string[]).includes(sort))
    throw new UsageError(`--sort takes one of ${DEVICE_SORTS.join(', ')}`);
  return { sort: sort as DeviceSort };
}

const tagOpt = (v: string, p: string[] = []) => [...p, v];

/** The list's filters, as options (`devices list`, `devices bulk`). */
function filterOptions(command: Command): Command {
  return command
    .option('--tag <tag>', 'only devices with this tag')
    .option('--status <status>', 'enabled or disabled')
    .option('--connected <yes|no>', 'only connected (yes) or disconnected (no) devices')
    .option('--firmware-version <version>', 'only devices running exactly this version')
    .option('--hardware-class <class>', 'only devices of this hardware class')
    .option('--below-version <version>', 'only devices running a version below this one')
    .option('--below-minimum', 'only devices below the minimum version of their hardware class')
    .option(
      '--last-seen-before <time>',
      'only devices not seen since then (never-seen ones included): epoch ms, RFC 3339 or a duration ago (24h)',
    )
    .option('--last-seen-after <time>', 'only devices seen since then: epoch ms, RFC 3339 or a duration ago')
    .option('--never-seen', 'only devices never seen')
    .option('--seen', 'only devices seen at least once')
    .option(
      '--certificate-expires-before <time>',
      'only devices whose current certificate expires before then (expired included): epoch ms, RFC 3339 or a duration from now (30d)',
    );
}

/** A time given as epoch ms, an RFC 3339 date-time, or a duration from now (`30d`). */
function aheadArg(text: string | undefined): string | undefined {
  if (!text) return undefined;
  if (/^\d+[smhd]$/.test(text)) return String(Date.now() + seconds(text) * 1000);
  return text;
}

/** The filter the options name; members not given are left out. */
function filterOf(o: ListOptions) {
  if (o.neverSeen && o.seen) throw new UsageError('--never-seen and --seen exclude each other');
  const filter = {
    tag: o.tag,
    status: o.status as 'enabled' | 'disabled' | undefined,
    connected: o.connected === undefined ? undefined : o.connected === 'yes' || o.connected === 'true',
    firmwareVersion: o.firmwareVersion,
    hardwareClass: o.hardwareClass,
    belowVersion: o.belowVersion,
    belowMinimum: o.belowMinimum ? true : undefined,
    lastSeenBefore: timeArg(o.lastSeenBefore),
    lastSeenAfter: timeArg(o.lastSeenAfter),
    neverSeen: o.neverSeen ? true : o.seen ? false : undefined,
    certificateExpiresBefore: aheadArg(o.certificateExpiresBefore),
  };
  type Given = { [K in keyof typeof filter]?: Exclude<(typeof filter)[K], undefined> };
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as Given;
}

interface BulkOptions extends ListOptions {
  addTag?: string[];
  removeTag?: string[];
  disable?: boolean;
  enable?: boolean;
  revoke?: boolean;
  setDesired?: string;
  yes?: boolean;
}

/** A JSON Merge Patch given on the command line: a JSON object. */
function patchOf(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--set-desired takes a JSON object: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError('--set-desired takes a JSON object (a JSON Merge Patch)');
  return value as Record<string, unknown>;
}

/** The one action the options name, or an error naming the choice. */
function bulkAction(o: BulkOptions) {
  const actions = [
    ...(o.addTag ? [{ type: 'addTags' as const, tags: o.addTag }] : []),
    ...(o.removeTag ? [{ type: 'removeTags' as const, tags: o.removeTag }] : []),
    ...(o.disable ? [{ type: 'disable' as const }] : []),
    ...(o.enable ? [{ type: 'enable' as const }] : []),
    ...(o.revoke ? [{ type: 'revoke' as const }] : []),
    ...(o.setDesired !== undefined
      ? [{ type: 'setDesiredConfig' as const, patch: patchOf(o.setDesired) }]
      : []),
  ];
  if (actions.length !== 1)
    throw new UsageError(
      'name exactly one action: --add-tag, --remove-tag (each repeatable), --disable, --enable, --revoke or --set-desired',
    );
  return actions[0]!;
}

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('devices of your tenant');
  filterOptions(devices.command('list').description('list devices (all pages unless --limit)'))
    .option(
      '--sort <key>',
      `the order: ${DEVICE_SORTS.join(', ')} (default id, creation order; -lastSeen: most recently seen first, never seen last; firmwareVersion: SemVer, never reported last)`,
    )
    .option('--limit <n>', 'at most this many')
    .action(
      act(async (ctx, o: ListOptions) => {
        const client = ctx.client();
        const query = { ...filterOf(o), ...sortOf(o.sort) };
        const max = o.limit ? Number(o.limit) : Infinity;
        const rows: Row[] = [];
        for await (const d of client.paginate<Row>(pathOf('listDevices'), query)) {
          rows.push(d);
          if (rows.length >= max) break;
        }
        ctx.out.result(rows, () =>
          ctx.out.table(
            rows.map((d) => ({
              ...d,
              connected: (d.presence as Row | undefined)?.connected,
              firmware: (d.firmware as Row | null)?.version ?? '',
            })),
            ['id', 'name', 'serial', 'status', 'tags', 'connected', 'firmware'],
          ),
        );
      }),
    );
  filterOptions(
    devices
      .command('bulk')
      .description(
        'act on every device a filter matches: counts them first, and acts only with --yes (on that count)',
      ),
  )
    .option('--add-tag <tag>', 'add this tag, repeatable', tagOpt)
    .option('--remove-tag <tag>', 'remove this tag, repeatable', tagOpt)
    .option('--disable', 'disable them (their sessions are closed)')
    .option('--enable', 'enable them')
    .option(
      '--revoke',
      'revoke every credential of each (certificates, access keys, tokens); cannot be undone',
    )
    .option('--set-desired <json>', 'merge this JSON Merge Patch into the desired configuration of each')
    .option('--yes', 'act, after the count (refused if the count changes in between)')
    .action(
      act(async (ctx, o: BulkOptions) => {
        const client = ctx.client();
        const body = { filter: filterOf(o), action: bulkAction(o) };
        const dry = await client.op('bulkDevices', {}, { body: { ...body, dryRun: true } });
        let done = o.yes
          ? await client.op('bulkDevices', {}, { body: { ...body, expectMatched: dry.matched } })
          : dry;
        // Revoking and the desired configuration run as a job: wait for it to end.
        if ('job' in done) {
          let job = done.job;
          while (job.status === 'queued' || job.status === 'running') {
            await new Promise((r) => setTimeout(r, 1000));
            job = await client.op('getDeviceBulkJob', { jobId: job.id });
          }
          done = { ...done, job };
          // Exit 0 means done (docs/cli.md): a job that stopped failed is not.
          if (job.status === 'failed') process.exitCode = 1;
        }
        const result = done;
        ctx.out.result(result, () =>
          ctx.out.line(
            result.dryRun
              ? `${result.matched} devices match; ${result.wouldChange} would change. Run again with --yes to act.`
              : 'job' in result
                ? `${result.job.matched} devices matched; ${result.job.changed} changed, ${result.job.skipped} skipped (job ${result.job.id}: ${result.job.status}${result.job.error ? `, ${result.job.error}` : ''}).`
                : `${result.matched} devices matched; ${result.changed} changed.`,
          ),
        );
      }),
    );
  devices
    .command('get <deviceId>')
    .description('show a device with its presence')
    .action(
      act(async (ctx, deviceId: string) => {
        const d = await ctx.client().op('getDevice', { deviceId });
        ctx.out.result(d, () => ctx.out.fields(d));
      }),
    );
  devices
    .command('create <name>')
    .description('register a device (devices usually provision themselves)')
    .option('--serial <serial>', "the manufacturer's serial")
    .option('--tag <tag>', 'a tag, repeatable', tagOpt)
    .option('--meta <key=value>', 'metadata, repeatable', collect)
    .action(
      act(async (ctx, name: string, o: { serial?: string; tag?: string[]; meta?: string[] }) => {
        const metadata = keyValues(o.meta);
        const d = await ctx.client().op(
          'createDevice',
          {},
          {
            body: {
              name,
              ...(o.serial ? { serial: o.serial } : {}),
              ...(o.tag ? { tags: o.tag } : {}),
              ...(metadata ? { metadata } : {}),
            },
          },
        );
        ctx.out.result(d, () => ctx.out.fields(d, ['id', 'name', 'serial', 'tags', 'status']));
      }),
    );
  devices
    .command('update <deviceId>')
    .description("change a device's name, tags or metadata")
    .option('--name <name>', 'new name')
    .option('--tag <tag>', 'replace the tags, repeatable', tagOpt)
    .option('--meta <key=value>', 'replace the metadata, repeatable', collect)
    .action(
      act(async (ctx, deviceId: string, o: { name?: string; tag?: string[]; meta?: string[] }) => {
        const metadata = keyValues(o.meta);
        const d = await ctx.client().op(
          'updateDevice',
          { deviceId },
          {
            body: {
              ...(o.name ? { name: o.name } : {}),
              ...(o.tag ? { tags: o.tag } : {}),
              ...(metadata ? { metadata } : {}),
            },
          },
        );
        ctx.out.result(d, () => ctx.out.fields(d, ['id', 'name', 'tags', 'metadata', 'status']));
      }),
    );
  for (const [verb, op] of [
    ['disable', 'disableDevice'],
    ['enable', 'enableDevice'],
  ] as const)
    devices
      .command(`${verb} <deviceId>`)
      .description(
        verb === 'disable' ? 'disable a device (its sessions drop, it cannot connect)' : 'enable a device',
      )
      .action(
        act(async (ctx, deviceId: string) => {
          const d = await ctx.client().op(op, { deviceId });
          ctx.out.result(d, () => ctx.out.fields(d, ['id', 'name', 'status']));
        }),
      );
  devices
    .command('delete <deviceId>')
    .description('delete a device and its data')
    .action(
      act(async (ctx, deviceId: string) => {
        await ctx.client().op('deleteDevice', { deviceId });
        ctx.out.result({ deleted: deviceId }, () => ctx.out.line(`Deleted ${deviceId}.`));
      }),
    );
  devices
    .command('presence <deviceId>')
    .description('connect and disconnect history')
    .action(
      act(async (ctx, deviceId: string) => {
        const r = await ctx.client().op('getPresence', { deviceId });
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['at', 'event', 'reason', 'remoteAddress', 'transport']),
        );
      }),
    );
  devices
    .command('certificates <deviceId>')
    .description("a device's certificates")
    .action(
      act(async (ctx, deviceId: string) => {
        const r = await ctx.client().op('listDeviceCertificates', { deviceId });
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['serial', 'caId', 'notAfter', 'revokedAt', 'revocationReason']),
        );
      }),
    );
  devices
    .command('revoke-tokens <deviceId>')
    .description("revoke a device's registration tokens (it must provision again)")
    .action(
      act(async (ctx, deviceId: string) => {
        await ctx.client().op('revokeRegistrationTokens', { deviceId });
        ctx.out.result({ deviceId, registrationTokensRevoked: true }, () =>
          ctx.out.line(`Revoked the registration tokens of ${deviceId}.`),
        );
      }),
    );
  devices
    .command('release <deviceId>')
    .description('release a device to a new owner; prints the one-time claim code')
    .option('--keep-data', 'keep its record and data for your history (default: delete them)')
    .action(
      act(async (ctx, deviceId: string, o: { keepData?: boolean }) => {
        const r = await ctx
          .client()
          .op('releaseDevice', { deviceId }, { body: { keepData: Boolean(o.keepData) } });
        ctx.out.result(r, () => ctx.out.fields(r));
      }),
    );
  devices
    .command('claim <claimCode>')
    .description('claim a released device into your tenant')
    .option('--name <name>', 'a name for it')
    .action(
      act(async (ctx, claimCode: string, o: { name?: string }) => {
        const d = await ctx
          .client()
          .op('claimDevice', {}, { body: { claimCode, ...(o.name ? { name: o.name } : {}) } });
        ctx.out.result(d, () => ctx.out.fields(d, ['id', 'name', 'serial', 'status']));
      }),
    );

  const keys = devices.command('keys').description("a device's access keys");
  keys
    .command('create <deviceId>')
    .description('create an access key; the secret is printed once')
    .action(
      act(async (ctx, deviceId: string) => {
        const r = await ctx.client().op('createAccessKey', { deviceId });
        ctx.out.result(r, () => {
          ctx.out.fields(r.accessKey, ['id', 'deviceId', 'prefix']);
          ctx.out.line(`secret  ${r.secret}`);
        });
      }),
    );
  keys
    .command('list <deviceId>')
    .description('list access keys')
    .action(
      act(async (ctx, deviceId: string) => {
        const r = await ctx.client().op('listAccessKeys', { deviceId });
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['id', 'prefix', 'createdAt', 'lastUsedAt', 'revokedAt']),
        );
      }),
    );
  keys
    .command('revoke <deviceId> <keyId>')
    .description('revoke an access key (live sessions using it drop)')
    .action(
      act(async (ctx, deviceId: string, keyId: string) => {
        await ctx.client().op('revokeAccessKey', { deviceId, keyId });
        ctx.out.result({ revoked: keyId }, () => ctx.out.line(`Revoked ${keyId}.`));
      }),
    );

  const telemetry = program.command('telemetry').description('what devices sent');
  const range = (c: Command) =>
    c
      .option('--from <time>', 'epoch ms, RFC 3339, or a duration ago (15m, 2h, 7d)')
      .option('--to <time>', 'epoch ms, RFC 3339, or a duration ago')
      .option('--key <key>', 'only this key')
      .option('--limit <n>', 'at most this many');
  range(telemetry.command('get <deviceId>').description('telemetry points, oldest first')).action(
    act(async (ctx, deviceId: string, o: { from?: string; to?: string; key?: string; limit?: string }) => {
      const r = await ctx.client().op(
        'getTelemetry',
        { deviceId },
        {
          query: { from: timeArg(o.from), to: timeArg(o.to), key: o.key, limit: o.limit },
        },
      );
      ctx.out.result(r, () => ctx.out.table(r.items, ['ts', 'key', 'value']));
    }),
  );
  telemetry
    .command('latest <deviceId>')
    .description('the latest value of each key')
    .action(
      act(async (ctx, deviceId: string) => {
        const r = await ctx.client().op('getLatestTelemetry', { deviceId });
        ctx.out.result(r.items, () => ctx.out.table(r.items, ['key', 'value', 'ts']));
      }),
    );
  telemetry
    .command('aggregate <deviceId>')
    .description('min, max, avg and count per time bucket of one key')
    .requiredOption('--key <key>', 'the key')
    .option('--from <time>', 'start (default 1h ago)', '1h')
    .option('--to <time>', 'end (default now)')
    .option('--bucket <duration>', 'bucket size', '5m')
    .action(
      act(async (ctx, deviceId: string, o: { key: string; from: string; to?: string; bucket: string }) => {
        const r = await ctx.client().op(
          'aggregateTelemetry',
          { deviceId },
          {
            query: {
              key: o.key,
              from: timeArg(o.from),
              to: timeArg(o.to) ?? String(Date.now()),
              bucket: seconds(o.bucket),
            },
          },
        );
        ctx.out.result(r, () => ctx.out.table(r.items, ['start', 'count', 'min', 'max', 'avg']));
      }),
    );
  range(telemetry.command('events <deviceId>').description('device events, oldest first')).action(
    act(async (ctx, deviceId: string, o: { from?: string; to?: string; limit?: string }) => {
      const r = await ctx
        .client()
        .op(
          'getEvents',
          { deviceId },
          { query: { from: timeArg(o.from), to: timeArg(o.to), limit: o.limit } },
        );
      ctx.out.result(r, () => ctx.out.table(r.items, ['ts', 'type', 'severity', 'message']));
    }),
  );

  const commands = program.command('commands').description('commands to devices');
  commands
    .command('send <deviceId> <name>')
    .description('send a command; --wait waits for its result')
    .option('--param <key=value>', 'a parameter, repeatable (values are JSON when they parse)', collect)
    .option('--params <json>', 'all parameters as one JSON value')
    .option('--ttl <duration>', 'expire if not delivered within this time')
    .option('--wait [duration]', 'wait for the result (default 30s)')
    .action(
      act(
        async (
          ctx,
          deviceId: string,
          name: string,
          o: { param?: string[]; params?: string; ttl?: string; wait?: string | boolean },
        ) => {
          const { parseJson } = await import('../act.js');
          const params = o.params ? parseJson(o.params, '--params') : keyValues(o.param);
          const client = ctx.client();
          let cmd = await client.op(
            'sendCommand',
            { deviceId },
            {
              body: {
                name,
                ...(params !== undefined ? { params } : {}),
                ...(o.ttl ? { ttlSeconds: seconds(o.ttl) } : {}),
              },
            },
          );
          if (o.wait) {
            const deadline = Date.now() + (typeof o.wait === 'string' ? seconds(o.wait) : 30) * 1000;
            while (['pending', 'delivered'].includes(String(cmd.status)) && Date.now() < deadline) {
              await new Promise((r) => setTimeout(r, 250));
              cmd = await client.op('getCommand', { deviceId, commandId: String(cmd.id) });
            }
          }
          ctx.out.result(cmd, () =>
            ctx.out.fields(cmd, [
              'id',
              'name',
              'status',
              'params',
              'result',
              'error',
              'createdAt',
              'completedAt',
            ]),
          );
        },
      ),
    );
  commands
    .command('list <deviceId>')
    .description("a device's commands, newest first")
    .option('--status <status>', 'pending, delivered, succeeded, failed or expired')
    .action(
      act(async (ctx, deviceId: string, o: { status?: string }) => {
        const r = await ctx.client().op('listCommands', { deviceId }, { query: { status: o.status } });
        ctx.out.result(r, () => ctx.out.table(r.items, ['id', 'name', 'status', 'createdAt', 'completedAt']));
      }),
    );
  commands
    .command('get <deviceId> <commandId>')
    .description('show a command and its result')
    .action(
      act(async (ctx, deviceId: string, commandId: string) => {
        const c = await ctx.client().op('getCommand', { deviceId, commandId });
        ctx.out.result(c, () => ctx.out.fields(c));
      }),
    );
}
