/** Provisioning: tokens, pending operations, approval by the code a device shows, factory batches. */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { act, seconds } from '../act.js';
import { writeOwnerOnly } from '../files.js';
import { UsageError } from '../context.js';

type Row = Record<string, unknown>;

/** Units per request of a factory batch run: each chunk is its own idempotent batch. */
export const FACTORY_CHUNK = 500;

interface Unit {
  serial: string;
  csr?: string;
}

/** Serials from a file: one per line, or CSV with a `serial` column and an optional `csr` (PEM path) column. */
export function readUnits(file: string, csrDir?: string): Unit[] {
  const text = readFileSync(file, 'utf8');
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new UsageError(`${file} lists no serials`);
  const header = lines[0]!
    .toLowerCase()
    .split(',')
    .map((h) => h.trim());
  const csv = header.includes('serial');
  const serialCol = csv ? header.indexOf('serial') : 0;
  const csrCol = csv ? header.indexOf('csr') : -1;
  const units = (csv ? lines.slice(1) : lines).map((line) => {
    const cols = line.split(',').map((c) => c.trim());
    const serial = cols[serialCol]!;
    const csrPath =
      csrCol >= 0 && cols[csrCol] ? cols[csrCol] : csrDir ? join(csrDir, `${serial}.csr`) : undefined;
    let csr: string | undefined;
    if (csrPath) {
      try {
        csr = readFileSync(csrPath, 'utf8');
      } catch (e) {
        if (csrCol >= 0)
          throw new UsageError(`cannot read the CSR of ${serial} at ${csrPath}: ${(e as Error).message}`);
      }
    }
    return { serial, ...(csr ? { csr } : {}) };
  });
  return units;
}

export function registerProvisioning(program: Command): void {
  const tokens = program.command('tokens').description('provisioning tokens (PTs)');
  tokens
    .command('list')
    .description('list provisioning tokens (never their secrets)')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listProvisioningTokens');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, [
            'id',
            'name',
            'kind',
            'serial',
            'approval',
            'uses',
            'maxUses',
            'expiresAt',
            'suspicious',
            'revokedAt',
          ]),
        );
      }),
    );
  tokens
    .command('create <name>')
    .description('create a provisioning token; the secret is printed once')
    .option('--serial <serial>', 'a per-device token for this serial (default: a batch token)')
    .option('--max-uses <n>', 'how many devices a batch token may provision', '1')
    .option(
      '--auto-approve',
      'approve its operations by policy (factory lines); default: a technician approves',
    )
    .option('--tag <tag>', 'tag the devices it provisions, repeatable', (v: string, p: string[] = []) => [
      ...p,
      v,
    ])
    .option('--expires <duration>', 'stop onboarding after this long (e.g. 30d)')
    .action(
      act(
        async (
          ctx,
          name: string,
          o: { serial?: string; maxUses: string; autoApprove?: boolean; tag?: string[]; expires?: string },
        ) => {
          const r = await ctx.client().op(
            'createProvisioningToken',
            {},
            {
              body: {
                name,
                kind: o.serial ? 'device' : 'batch',
                ...(o.serial ? { serial: o.serial } : { maxUses: Number(o.maxUses) }),
                approval: o.autoApprove ? 'auto' : 'manual',
                ...(o.tag ? { deviceTags: o.tag } : {}),
                ...(o.expires ? { ttlSeconds: seconds(o.expires) } : {}),
              },
            },
          );
          ctx.out.result(r, () => {
            ctx.out.fields(r.provisioningToken, [
              'id',
              'name',
              'kind',
              'serial',
              'maxUses',
              'approval',
              'expiresAt',
            ]);
            ctx.out.line(`secret  ${r.secret}`);
            ctx.out.note('The secret is shown once: put it in the firmware image or the factory tool now.');
          });
        },
      ),
    );
  tokens
    .command('get <tokenId>')
    .description('show a provisioning token')
    .action(
      act(async (ctx, tokenId: string) => {
        const t = await ctx.client().op('getProvisioningToken', { tokenId });
        ctx.out.result(t, () => ctx.out.fields(t));
      }),
    );
  tokens
    .command('revoke <tokenId>')
    .description('revoke a provisioning token (its pending operations end, its connections drop)')
    .action(
      act(async (ctx, tokenId: string) => {
        await ctx.client().op('revokeProvisioningToken', { tokenId });
        ctx.out.result({ revoked: tokenId }, () => ctx.out.line(`Revoked ${tokenId}.`));
      }),
    );

  const ops = program.command('operations').description('provisioning operations');
  ops
    .command('list')
    .description('list operations, pending ones by default')
    .option('--status <status>', 'pending, approved, rejected, superseded, locked or expired', 'pending')
    .option('--serial <serial>', 'only this serial')
    .option('--tag <tag>', 'only operations of tokens with this device tag')
    .option('--older-than <duration>', 'only operations at least this old')
    .action(
      act(async (ctx, o: { status: string; serial?: string; tag?: string; olderThan?: string }) => {
        const r = await ctx.client().op(
          'listOperations',
          {},
          {
            query: {
              status: o.status,
              serial: o.serial,
              tag: o.tag,
              minAgeSeconds: o.olderThan ? seconds(o.olderThan) : undefined,
            },
          },
        );
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, [
            'id',
            'serial',
            'status',
            'hasVerificationCode',
            'wrongCodeAttempts',
            'createdAt',
            'expiresAt',
          ]),
        );
      }),
    );
  ops
    .command('get <operationId>')
    .description('show an operation')
    .action(
      act(async (ctx, operationId: string) => {
        const r = await ctx.client().op('getOperation', { operationId });
        ctx.out.result(r, () => ctx.out.fields(r));
      }),
    );
  ops
    .command('reject <operationId>')
    .description('reject a pending operation')
    .option('--reason <text>', 'why')
    .action(
      act(async (ctx, operationId: string, o: { reason?: string }) => {
        const r = await ctx
          .client()
          .op('rejectOperation', { operationId }, { body: o.reason ? { reason: o.reason } : {} });
        ctx.out.result(r, () => ctx.out.fields(r, ['id', 'serial', 'status', 'reason']));
      }),
    );

  program
    .command('approve <code>')
    .description('approve the pending operation of the device showing this verification code')
    .option('--serial <serial>', "the device's serial (needed when several devices wait)")
    .option('--operation <operationId>', 'the operation, when you know it')
    .action(
      act(async (ctx, code: string, o: { serial?: string; operation?: string }) => {
        const client = ctx.client();
        let operationId = o.operation;
        if (!operationId) {
          const pending = await client.op(
            'listOperations',
            {},
            { query: { status: 'pending', serial: o.serial } },
          );
          const withCode = pending.items.filter((p) => p.hasVerificationCode);
          if (withCode.length === 0)
            throw new UsageError(
              o.serial
                ? `no pending operation with a code for serial ${o.serial}`
                : 'no pending operation waits for a code',
            );
          if (withCode.length > 1)
            throw new UsageError(
              `${withCode.length} devices wait for a code (${withCode.map((p) => p.serial).join(', ')}): add --serial, so that a wrong guess is not counted against another device`,
            );
          operationId = String(withCode[0]!.id);
        }
        const r = await client.op('approveOperation', { operationId }, { body: { verificationCode: code } });
        ctx.out.result(r, () => ctx.out.line(`Approved ${String(r.serial)}: device ${String(r.deviceId)}.`));
      }),
    );

  program
    .command('factory <file>')
    .description(
      'provision a production run: serials (one per line, or CSV with serial[,csr]) → certificates for units with a CSR, per-unit provisioning tokens for the others; writes the manifest',
    )
    .requiredOption('--batch <id>', 'a batch id: running the same batch again returns the same manifest')
    .option('--csr-dir <dir>', 'read <serial>.csr from this directory for each unit')
    .option('--auto-approve', 'units with tokens are approved by policy when they start provisioning')
    .option('--tag <tag>', 'tag the devices, repeatable', (v: string, p: string[] = []) => [...p, v])
    .option('--out <dir>', 'where to write manifest.json and manifest.csv', '.')
    .action(
      act(
        async (
          ctx,
          file: string,
          o: { batch: string; csrDir?: string; autoApprove?: boolean; tag?: string[]; out: string },
        ) => {
          const units = readUnits(file, o.csrDir);
          const client = ctx.client();
          const chunks = Math.ceil(units.length / FACTORY_CHUNK);
          const bar =
            !ctx.out.json && process.stderr.isTTY
              ? new SingleBar(
                  {
                    format: 'provisioning [{bar}] {value}/{total} units | {eta_formatted} left',
                    stream: process.stderr,
                  },
                  Presets.shades_classic,
                )
              : undefined;
          bar?.start(units.length, 0);
          const items: Row[] = [];
          for (let i = 0; i < chunks; i++) {
            const part = units.slice(i * FACTORY_CHUNK, (i + 1) * FACTORY_CHUNK);
            // Each chunk is its own batch id, so a rerun after an interruption resumes where it stopped.
            const batchId = chunks === 1 ? o.batch : `${o.batch}-${String(i + 1).padStart(4, '0')}`;
            const manifest = await client.op(
              'provisionBatch',
              {},
              {
                body: {
                  batchId,
                  items: part,
                  approval: o.autoApprove ? 'auto' : 'manual',
                  ...(o.tag ? { deviceTags: o.tag } : {}),
                },
              },
            );
            items.push(...manifest.items);
            bar?.update(items.length);
            if (!bar && !ctx.out.json) ctx.out.note(`provisioned ${items.length}/${units.length}`);
          }
          bar?.stop();
          mkdirSync(o.out, { recursive: true });
          const manifest = { batchId: o.batch, createdAt: Date.now(), devices: items.length, items };
          writeOwnerOnly(join(o.out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
          const cols = [
            'serial',
            'deviceId',
            'certificateSerial',
            'provisioningTokenId',
            'provisioningToken',
            'notAfter',
          ];
          const esc = (v: unknown) =>
            v === undefined || v === null
              ? ''
              : /[",\n]/.test(String(v))
                ? `"${String(v).replace(/"/g, '""')}"`
                : String(v);
          writeOwnerOnly(
            join(o.out, 'manifest.csv'),
            [cols.join(','), ...items.map((it) => cols.map((c) => esc(it[c])).join(','))].join('\n') + '\n',
          );
          const certificates = items.filter((it) => it.certificateSerial).length;
          const summary = {
            batchId: o.batch,
            devices: items.length,
            certificates,
            provisioningTokens: items.length - certificates,
            manifest: join(o.out, 'manifest.json'),
            csv: join(o.out, 'manifest.csv'),
          };
          ctx.out.result(summary, () => {
            ctx.out.fields(summary);
            ctx.out.note(
              'The manifest holds provisioning-token secrets and certificates: it is written owner-readable only.',
            );
          });
        },
      ),
    );
}
