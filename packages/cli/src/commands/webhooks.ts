/**
 * Webhooks: endpoints that receive the platform's events (signed, retried), their signing secrets
 * and verification, the delivery log with each attempt, and replays of one delivery or a time range.
 */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import {
  PLATFORM_EVENT_TYPES,
  type DeliveryAnswer,
  type DeliveryDetailAnswer,
  type WebhookAnswer,
} from '@mooring/protocol';
import { act, collect } from '../act.js';
import { UsageError, type Ctx } from '../context.js';
import { number, duration } from './deployment-options.js';
import { oneOf } from './alert-options.js';
import { createBody, epochMs, updateBody, type WebhookOptions } from './webhook-options.js';

type Webhook = typeof WebhookAnswer.static;
type Delivery = typeof DeliveryAnswer.static;
type DeliveryDetail = typeof DeliveryDetailAnswer.static;

const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'];

function authText(w: Webhook): string {
  const a = w.auth;
  if (a.type === 'basic') return `basic (${a.username})`;
  if (a.type === 'oauth2')
    return `oauth2 (client ${a.clientId} at ${a.tokenUrl}${a.scope ? `, scope ${a.scope}` : ''})`;
  return 'none';
}

const statusText = (w: Webhook) => (w.statusReason ? `${w.status} (${w.statusReason})` : w.status);

function renderWebhook(ctx: Ctx, w: Webhook): void {
  ctx.out.fields({
    id: w.id,
    name: w.name,
    url: w.url,
    status: statusText(w),
    events: w.eventTypes.join(', '),
    deviceTags: w.deviceTags.length ? w.deviceTags.join(', ') : 'every device',
    auth: authText(w),
    ca: w.caPem ? 'own CA (PEM)' : 'public CAs',
    verifiedAt: w.verifiedAt ?? undefined,
    previousSecretUntil: w.previousSecretUntil ?? undefined,
    lastError: w.lastError ?? undefined,
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
  });
}

const showWebhook = (ctx: Ctx, w: Webhook) => ctx.out.result(w, () => renderWebhook(ctx, w));

/** A new signing secret: printed once, on stdout, with the warning on both sides of it. */
function showWithSecret(ctx: Ctx, r: { webhook: Webhook; secret: string }, what: string): void {
  ctx.out.result(r, () => {
    renderWebhook(ctx, r.webhook);
    ctx.out.line('');
    ctx.out.line(`${what} (shown this once, it is NOT shown again; store it now):`);
    ctx.out.line(`  ${r.secret}`);
    ctx.out.note(
      'The receiver checks the signature of each request with this secret; it cannot be read back later, only rotated.',
    );
  });
}

const deliveryColumns = [
  'id',
  'eventType',
  'status',
  'attempts',
  'lastStatus',
  'lastError',
  'nextAttemptAt',
  'createdAt',
  'deliveredAt',
];

/** The flags of `create` and `update`; update adds its own. */
function webhookOptions(c: Command): Command {
  return c
    .option('--name <name>', 'a name for people')
    .option('--url <url>', 'the https:// URL events are POSTed to')
    .option(
      '--event <type>',
      `an event type to send (repeatable, or comma-separated): ${PLATFORM_EVENT_TYPES.join(', ')}`,
      collect,
    )
    .option('--all-events', 'every event type')
    .option('--tag <tag>', 'only events of devices with this tag (repeatable: any of them)', collect)
    .option('--ca-file <file>', "PEM of the CA the endpoint's certificate chains to (default: public CAs)")
    .option('--basic-user <name>', 'HTTP basic authentication: the user …')
    .option('--basic-password-file <file>', '… and a file holding the password (- reads a line of stdin)')
    .option('--oauth-token-url <url>', 'OAuth 2 client credentials: the token endpoint …')
    .option('--oauth-client-id <id>', '… the client id …')
    .option('--oauth-client-secret-file <file>', '… a file holding the client secret (- reads stdin) …')
    .option('--oauth-scope <scope>', '… and optionally the scope …')
    .option('--oauth-audience <audience>', '… and audience')
    .option('--without-auth', 'no authentication header (the signature alone)');
}

export function registerWebhooks(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description("HTTPS endpoints that receive the platform's events, signed, with retries");

  webhooks
    .command('list')
    .description("the tenant's webhooks and their status")
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listWebhooks');
        ctx.out.result(r.items, () =>
          ctx.out.table(
            r.items.map((w) => ({ ...w, auth: w.auth.type, events: w.eventTypes.length })),
            ['id', 'name', 'status', 'url', 'events', 'deviceTags', 'auth', 'verifiedAt', 'lastError'],
          ),
        );
      }),
    );
  webhooks
    .command('show <webhookId>')
    .description('a webhook: URL, events, device tags, authentication, status and last error')
    .action(
      act(async (ctx, webhookId: string) => {
        showWebhook(ctx, await ctx.client().op('getWebhook', { webhookId }));
      }),
    );
  webhookOptions(
    webhooks
      .command('create')
      .description(
        'add a webhook; prints its signing secret once. It is pending until the endpoint answers the verification challenge',
      ),
  ).action(
    act(async (ctx, o: WebhookOptions) => {
      const body = await createBody(o);
      const r = await ctx.client().op('createWebhook', {}, { body });
      showWithSecret(ctx, r, 'Signing secret');
      if (!ctx.out.json && r.webhook.status === 'pending')
        ctx.out.note(`Events flow once it is verified: mooring webhooks show ${r.webhook.id}`);
    }),
  );
  webhookOptions(
    webhooks
      .command('update <webhookId>')
      .description('change what the flags name; a new URL, or enabling it again, verifies it again'),
  )
    .option('--every-device', "events of every device (clears the webhook's device tags)")
    .option('--remove-ca', "trust public CAs again instead of the webhook's own CA")
    .option('--enable', 'enable a disabled webhook (it is verified again)')
    .option('--disable', 'stop delivering to it')
    .action(
      act(async (ctx, webhookId: string, o: WebhookOptions) => {
        const body = await updateBody(o);
        showWebhook(ctx, await ctx.client().op('updateWebhook', { webhookId }, { body }));
      }),
    );
  webhooks
    .command('delete <webhookId>')
    .description('remove a webhook with its delivery log')
    .action(
      act(async (ctx, webhookId: string) => {
        await ctx.client().op('deleteWebhook', { webhookId });
        ctx.out.result({ deleted: webhookId }, () => ctx.out.line(`Deleted the webhook ${webhookId}.`));
      }),
    );
  webhooks
    .command('verify <webhookId>')
    .description('send the verification challenge again (the webhook is pending until it is answered)')
    .action(
      act(async (ctx, webhookId: string) => {
        const w = await ctx.client().op('verifyWebhook', { webhookId });
        showWebhook(ctx, w);
        if (!ctx.out.json) ctx.out.note(`The challenge goes out now: mooring webhooks show ${webhookId}`);
      }),
    );
  webhooks
    .command('rotate-secret <webhookId>')
    .description('a new signing secret, printed once; the old one also signs for --overlap')
    .option(
      '--overlap <duration>',
      'how long requests are signed with the old secret too (0 for not at all, at most 7d; default: 1d)',
    )
    .action(
      act(async (ctx, webhookId: string, o: { overlap?: string }) => {
        // Without --overlap the server's default applies.
        const body = o.overlap === undefined ? {} : { overlapSeconds: duration('--overlap', o.overlap) };
        const r = await ctx.client().op('rotateWebhookSecret', { webhookId }, { body });
        showWithSecret(ctx, r, 'New signing secret');
      }),
    );

  webhooks
    .command('deliveries <webhookId>')
    .description("the webhook's deliveries, newest first: status, attempts, the last answer")
    .option('--status <status>', DELIVERY_STATUSES.join(', '))
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (ctx, webhookId: string, o: { status?: string; limit: string }) => {
        const max = number('--limit', o.limit);
        const status = o.status === undefined ? undefined : oneOf('--status', o.status, DELIVERY_STATUSES);
        const rows: Delivery[] = [];
        const path = pathOf('listWebhookDeliveries', { webhookId });
        for await (const d of ctx.client().paginate<Delivery>(path, { status }, Math.min(500, max))) {
          rows.push(d);
          if (rows.length >= max) break;
        }
        ctx.out.result(rows, () => ctx.out.table(rows, deliveryColumns));
      }),
    );
  webhooks
    .command('delivery <webhookId> <deliveryId>')
    .description('one delivery: the event as delivered and the log of its attempts')
    .action(
      act(async (ctx, webhookId: string, deliveryId: string) => {
        const d: DeliveryDetail = await ctx.client().op('getWebhookDelivery', { webhookId, deliveryId });
        ctx.out.result(d, () => {
          const { event, attemptLog, ...rest } = d;
          ctx.out.fields(
            Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, v === null ? undefined : v])),
            deliveryColumns.concat('eventId', 'webhookId'),
          );
          ctx.out.line('');
          ctx.out.table(attemptLog, ['attempt', 'at', 'status', 'latencyMs', 'error', 'responseExcerpt']);
          ctx.out.line('');
          ctx.out.line(`event  ${JSON.stringify(event)}`);
        });
      }),
    );
  webhooks
    .command('replay <webhookId> [deliveryId]')
    .description('deliver again: one delivery, or those created between --from and --to')
    .option('--from <time>', 'epoch ms, RFC 3339, or a duration ago (15m, 2h, 7d)')
    .option('--to <time>', 'epoch ms, RFC 3339, or a duration ago (default now)')
    .option('--status <status>', `only deliveries in this status: ${DELIVERY_STATUSES.join(', ')}`)
    .action(
      act(
        async (
          ctx,
          webhookId: string,
          deliveryId: string | undefined,
          o: { from?: string; to?: string; status?: string },
        ) => {
          const client = ctx.client();
          if (deliveryId !== undefined) {
            if (o.from !== undefined || o.to !== undefined || o.status !== undefined)
              throw new UsageError('replay one delivery by its id, or a range with --from/--to; not both');
            const d = await client.op('replayWebhookDelivery', { webhookId, deliveryId });
            ctx.out.result(d, () => {
              ctx.out.fields(d, deliveryColumns);
              ctx.out.note('Queued for delivery again.');
            });
            return;
          }
          if (o.from === undefined)
            throw new UsageError('give a delivery id, or the range to replay with --from (and --to)');
          const now = Date.now();
          const body = {
            from: epochMs('--from', o.from, now),
            to: o.to === undefined ? now : epochMs('--to', o.to, now),
            ...(o.status !== undefined
              ? { status: oneOf('--status', o.status, DELIVERY_STATUSES) as Delivery['status'] }
              : {}),
          };
          if (body.to <= body.from) throw new UsageError('--to must be after --from');
          const r = await client.op('replayWebhookDeliveries', { webhookId }, { body });
          ctx.out.result(r, () =>
            ctx.out.line(
              `Queued ${r.replayed} deliver${r.replayed === 1 ? 'y' : 'ies'} for delivery again (created ${new Date(body.from).toISOString()} to ${new Date(body.to).toISOString()}).`,
            ),
          );
        },
      ),
    );
}
