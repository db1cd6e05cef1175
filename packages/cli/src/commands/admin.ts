/** Platform administration: tenants, their first users and keys, the signing key. */
import type { Command } from 'commander';
import { act } from '../act.js';
import { grantsFrom, withGrantOptions, type GrantOptions } from '../grants.js';
import { readSecret } from '../act.js';

export function registerAdmin(program: Command): void {
  const tenants = program.command('tenants').description('tenants (platform administrators)');
  tenants
    .command('list')
    .description('list tenants')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listTenants');
        ctx.out.result(r.items, () => ctx.out.table(r.items, ['id', 'name', 'requireTotp', 'createdAt']));
      }),
    );
  tenants
    .command('create <name>')
    .description('create a tenant')
    .action(
      act(async (ctx, name: string) => {
        const t = await ctx.client().op('createTenant', {}, { body: { name } });
        ctx.out.result(t, () => ctx.out.fields(t));
      }),
    );
  tenants
    .command('get <tenantId>')
    .description('show a tenant')
    .action(
      act(async (ctx, tenantId: string) => {
        const t = await ctx.client().op('getTenant', { tenantId });
        ctx.out.result(t, () => ctx.out.fields(t));
      }),
    );
  withGrantOptions(
    tenants
      .command('add-user <tenantId> <username>')
      .description(
        "create a tenant's user with a password (read from stdin or MOORING_PASSWORD; default grant: owner)",
      )
      .option('--password-stdin', 'read the password from stdin'),
  ).action(
    act(async (ctx, tenantId: string, username: string, opts: GrantOptions & { passwordStdin?: boolean }) => {
      const password =
        process.env.MOORING_PASSWORD ??
        (await readSecret('Password for the new user', Boolean(opts.passwordStdin)));
      const grants = grantsFrom(opts);
      const u = await ctx
        .client()
        .op(
          'createTenantUser',
          { tenantId },
          { body: { username, password, ...(grants ? { grants } : {}) } },
        );
      ctx.out.result(u, () => ctx.out.fields(u, ['id', 'username', 'tenantId', 'grants']));
    }),
  );
  withGrantOptions(
    tenants
      .command('add-key <tenantId> <name>')
      .description('create an API key for a tenant (default grant: owner); the secret is printed once'),
  ).action(
    act(async (ctx, tenantId: string, name: string, opts: GrantOptions) => {
      const grants = grantsFrom(opts);
      const r = await ctx
        .client()
        .op('createTenantApiKey', { tenantId }, { body: { name, ...(grants ? { grants } : {}) } });
      ctx.out.result(r, () => {
        ctx.out.fields(r.apiKey, ['id', 'name', 'tenantId', 'grants']);
        ctx.out.line(`secret  ${r.secret}`);
        ctx.out.note('The secret is shown once: store it now.');
      });
    }),
  );

  program
    .command('signing-key')
    .description('registration-token signing keys (platform administrators)')
    .command('rotate')
    .description('make a new signing key the active one')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('rotateSigningKey');
        ctx.out.result(r, () => ctx.out.line(`Active signing key: ${r.kid}`));
      }),
    );
}
