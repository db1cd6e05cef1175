/** MQTT bridges to the customer's own broker: create, list, show with status, change, delete. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { act, collect, readSecret } from '../act.js';

interface BridgeOptions {
  name?: string;
  url?: string;
  username?: string;
  password?: boolean;
  passwordStdin?: boolean;
  clientCert?: string;
  clientKey?: string;
  ca?: string;
  topic?: string;
  event?: string[];
  tag?: string[];
  qos?: string;
  spoolMaxBytes?: string;
  spoolMaxAgeSeconds?: string;
  disabled?: boolean;
  enabled?: boolean;
}

const pem = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file, 'utf8'));

/** The request body from the options given; members not given are left out. */
async function bodyOf(o: BridgeOptions): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {
    name: o.name,
    url: o.url,
    username: o.username,
    clientCert: pem(o.clientCert),
    clientKey: pem(o.clientKey),
    ca: pem(o.ca),
    topicTemplate: o.topic,
    eventTypes: o.event,
    deviceTags: o.tag,
    qos: o.qos === undefined ? undefined : Number(o.qos),
    spoolMaxBytes: o.spoolMaxBytes === undefined ? undefined : Number(o.spoolMaxBytes),
    spoolMaxAgeSeconds: o.spoolMaxAgeSeconds === undefined ? undefined : Number(o.spoolMaxAgeSeconds),
    enabled: o.disabled ? false : o.enabled ? true : undefined,
  };
  if (o.password || o.passwordStdin) body.password = await readSecret('broker password', !!o.passwordStdin);
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

function withOptions(cmd: Command): Command {
  return cmd
    .option('--username <name>', 'user name at the broker')
    .option('--password', 'ask for the broker password (not echoed)')
    .option('--password-stdin', 'read the broker password from stdin')
    .option('--client-cert <file>', 'PEM client certificate for mutual TLS')
    .option('--client-key <file>', 'PEM private key of the client certificate')
    .option('--ca <file>', 'PEM CA the broker certificate must chain to')
    .option('--event <type>', 'a platform event type to carry (repeat)', collect)
    .option('--tag <tag>', 'only events of devices with this tag (repeat)', collect)
    .option('--qos <0|1>', 'QoS of the bridged messages (default 1)')
    .option('--spool-max-bytes <n>', 'spool byte cap (default 64 MiB)')
    .option('--spool-max-age-seconds <n>', 'spool age cap (default 7 days)')
    .option('--disabled', 'keep the bridge stopped');
}

const columns = ['id', 'name', 'url', 'enabled', 'connected', 'spoolRows', 'forwarded', 'dropped'];
const row = (b: { status: Record<string, unknown> } & Record<string, unknown>) => ({ ...b, ...b.status });

export function registerBridges(program: Command): void {
  const bridges = program.command('bridges').description("MQTT bridges to the customer's own broker");
  withOptions(
    bridges
      .command('create')
      .description('create a bridge (mqtts:// recommended; mqtt:// sends the password in clear)')
      .requiredOption('--name <name>', 'a name')
      .requiredOption('--url <url>', 'mqtts://host[:port] or mqtt://host[:port]')
      .requiredOption('--topic <template>', 'e.g. mooring/{tenantId}/{deviceId}/{type}'),
  ).action(
    act(async (ctx, o: BridgeOptions) => {
      const b = await ctx.client().op('createBridge', {}, { body: (await bodyOf(o)) as never });
      ctx.out.result(b, () => ctx.out.table([row(b)], columns));
    }),
  );
  bridges
    .command('list')
    .description("the tenant's bridges with their status")
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listBridges');
        ctx.out.result(r.items, () => ctx.out.table(r.items.map(row), columns));
      }),
    );
  bridges
    .command('show <bridgeId>')
    .description('a bridge and its status: connection, last error, spool depth, forwarded, dropped')
    .action(
      act(async (ctx, bridgeId: string) => {
        const b = await ctx.client().op('getBridge', { bridgeId });
        ctx.out.result(b, () => {
          ctx.out.table([row(b)], columns);
          if (b.status.lastError) ctx.out.note(`last error: ${b.status.lastError}`);
        });
      }),
    );
  withOptions(
    bridges
      .command('update <bridgeId>')
      .description('change a bridge; its forwarder reconnects with the new settings')
      .option('--name <name>', 'a new name')
      .option('--url <url>', 'a new broker URL')
      .option('--topic <template>', 'a new topic template')
      .option('--enabled', 'start the bridge'),
  ).action(
    act(async (ctx, bridgeId: string, o: BridgeOptions) => {
      const b = await ctx.client().op('updateBridge', { bridgeId }, { body: (await bodyOf(o)) as never });
      ctx.out.result(b, () => ctx.out.table([row(b)], columns));
    }),
  );
  bridges
    .command('delete <bridgeId>')
    .description('delete a bridge and its spool')
    .action(
      act(async (ctx, bridgeId: string) => {
        await ctx.client().op('deleteBridge', { bridgeId });
        ctx.out.result({ deleted: bridgeId }, () => ctx.out.line(`Deleted bridge ${bridgeId}.`));
      }),
    );
}
