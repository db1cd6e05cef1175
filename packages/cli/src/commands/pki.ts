/** Certificates and certificate authorities. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { act } from '../act.js';
import { UsageError } from '../context.js';

function policyOf(policy: string): 'auto' | 'pending' {
  if (policy !== 'auto' && policy !== 'pending') throw new UsageError('--policy must be auto or pending');
  return policy;
}

function pem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

export function registerPki(program: Command): void {
  const certs = program.command('certificates').description('device certificates');
  certs
    .command('revoke <serial>')
    .description('revoke a certificate (refused at the next handshake, its session drops)')
    .option('--reason <text>', 'why')
    .action(
      act(async (ctx, serial: string, o: { reason?: string }) => {
        await ctx
          .client()
          .op('revokeCertificate', { serial }, { body: o.reason ? { reason: o.reason } : {} });
        ctx.out.result({ revoked: serial }, () => ctx.out.line(`Revoked certificate ${serial}.`));
      }),
    );

  certs
    .command('approve <serial>')
    .description(
      'let a pending certificate (a new one for a known serial, pending CA policy) authenticate its device',
    )
    .action(
      act(async (ctx, serial: string) => {
        const c = await ctx.client().op('approveCertificate', { serial });
        ctx.out.result(c, () => ctx.out.fields(c, ['serial', 'deviceId', 'caId', 'pending', 'notAfter']));
      }),
    );

  const cas = program
    .command('cas')
    .description('certificate authorities: the issuing CA and manufacturer CAs');
  cas
    .command('list')
    .description("list the tenant's CAs")
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listCas');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['id', 'kind', 'status', 'subject', 'registrationPolicy', 'notAfter']),
        );
      }),
    );
  cas
    .command('registration-code')
    .description('a challenge to sign into a verification certificate (proof of possession)')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('createRegistrationCode');
        ctx.out.result(r, () => ctx.out.fields(r));
      }),
    );
  cas
    .command('register')
    .description('register a manufacturer CA with proof of possession')
    .requiredOption('--ca-cert <file>', "the CA's certificate (PEM)")
    .requiredOption(
      '--verification-cert <file>',
      'a certificate the CA signed with the registration code as common name',
    )
    .requiredOption('--crl <file>', "the CA's CRL (PEM)")
    .option(
      '--policy <auto|pending>',
      'register its devices enabled (auto) or waiting for approval (pending)',
      'pending',
    )
    .option('--tag <tag>', 'tag its devices, repeatable', (v: string, p: string[] = []) => [...p, v])
    .action(
      act(
        async (
          ctx,
          o: { caCert: string; verificationCert: string; crl: string; policy: string; tag?: string[] },
        ) => {
          const r = await ctx.client().op(
            'registerCa',
            {},
            {
              body: {
                caCertificate: pem(o.caCert, 'CA certificate'),
                verificationCertificate: pem(o.verificationCert, 'verification certificate'),
                crl: pem(o.crl, 'CRL'),
                registrationPolicy: policyOf(o.policy),
                ...(o.tag ? { deviceTags: o.tag } : {}),
              },
            },
          );
          ctx.out.result(r, () =>
            ctx.out.fields(r, ['id', 'kind', 'status', 'subject', 'registrationPolicy']),
          );
        },
      ),
    );
  for (const [verb, op] of [
    ['disable', 'disableCa'],
    ['enable', 'enableCa'],
  ] as const)
    cas
      .command(`${verb} <caId>`)
      .description(verb === 'disable' ? 'disable a CA: all of its devices are refused' : 'enable a CA')
      .action(
        act(async (ctx, caId: string) => {
          const r = await ctx.client().op(op, { caId });
          ctx.out.result(r, () => ctx.out.fields(r, ['id', 'status']));
        }),
      );
  cas
    .command('update-crl <caId> <crlFile>')
    .description("replace a manufacturer CA's CRL")
    .action(
      act(async (ctx, caId: string, crlFile: string) => {
        await ctx.client().op('updateCaCrl', { caId }, { body: { crl: pem(crlFile, 'CRL') } });
        ctx.out.result({ caId, crlUpdated: true }, () => ctx.out.line(`Updated the CRL of ${caId}.`));
      }),
    );
  cas
    .command('crl <caId>')
    .description("print a CA's current CRL (PEM)")
    .action(
      act(async (ctx, caId: string) => {
        const crl = await ctx.client({ anonymous: true }).op('getCrl', { caId });
        ctx.out.result(ctx.out.json ? { caId, crl } : crl, () => ctx.out.line(crl.trimEnd()));
      }),
    );
}
