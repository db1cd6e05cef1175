/** A tenant's people and programs: settings, users, invitations, roles, API keys. */
import type { Command } from 'commander';
import type { Permission } from '@mooring/protocol';
import { act, seconds } from '../act.js';
import { UsageError } from '../context.js';
import { grantsFrom, withGrantOptions, type GrantOptions } from '../grants.js';

type Row = Record<string, unknown>;

export function registerTeam(program: Command): void {
  const tenant = program.command('tenant').description('your tenant and its security settings');
  tenant
    .command('show')
    .description('show the tenant and its settings')
    .action(
      act(async (ctx) => {
        const t = await ctx.client().op('getCurrentTenant');
        ctx.out.result(t, () => ctx.out.fields(t));
      }),
    );
  tenant
    .command('set')
    .description('change the security settings')
    .option('--require-totp <on|off>', 'require two-factor authentication for every user')
    .option(
      '--audit-retention-days <days|off>',
      'remove audit records older than this (30–3650), or keep them (off)',
    )
    .action(
      act(async (ctx, opts: { requireTotp?: string; auditRetentionDays?: string }) => {
        const body: Row = {};
        if (opts.requireTotp !== undefined) {
          if (!['on', 'off'].includes(opts.requireTotp))
            throw new UsageError('--require-totp takes on or off');
          body.requireTotp = opts.requireTotp === 'on';
        }
        if (opts.auditRetentionDays !== undefined)
          body.auditRetentionDays =
            opts.auditRetentionDays === 'off' ? null : Number(opts.auditRetentionDays);
        if (Object.keys(body).length === 0)
          throw new UsageError('nothing to change: give --require-totp or --audit-retention-days');
        const t = await ctx.client().op('updateTenantSettings', {}, { body });
        ctx.out.result(t, () => ctx.out.fields(t));
      }),
    );

  const users = program.command('users').description("the tenant's users");
  users
    .command('list')
    .description('list users')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listUsers');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['id', 'username', 'grants', 'totpEnabled', 'disabled', 'lastLoginAt']),
        );
      }),
    );
  users
    .command('get <userId>')
    .description('show a user')
    .action(
      act(async (ctx, userId: string) => {
        const u = await ctx.client().op('getUser', { userId });
        ctx.out.result(u, () => ctx.out.fields(u));
      }),
    );
  withGrantOptions(
    users.command('invite').description('invite a user with grants; prints the one-time invitation token'),
  )
    .option('--note <text>', 'a note shown in the invitation list')
    .option('--expires <duration>', 'how long the invitation is valid (default 72h)')
    .action(
      act(async (ctx, opts: GrantOptions & { note?: string; expires?: string }) => {
        const grants = grantsFrom(opts);
        if (!grants) throw new UsageError('an invitation needs grants: --role, --permission or --grants');
        const r = await ctx.client().op(
          'createInvitation',
          {},
          {
            body: {
              grants,
              ...(opts.note ? { note: opts.note } : {}),
              ...(opts.expires
                ? { expiresInHours: Math.max(1, Math.round(seconds(opts.expires) / 3600)) }
                : {}),
            },
          },
        );
        ctx.out.result(r, () => {
          ctx.out.fields(r.invitation, ['id', 'grants', 'expiresAt']);
          ctx.out.line(`token  ${r.token}`);
          ctx.out.note('Give the token to the invitee: mooring accept-invitation <token> --username <name>');
        });
      }),
    );
  users
    .command('invitations')
    .description('list invitations')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listInvitations');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, [
            'id',
            'grants',
            'note',
            'createdBy',
            'expiresAt',
            'acceptedAt',
            'revokedAt',
          ]),
        );
      }),
    );
  users
    .command('revoke-invitation <invitationId>')
    .description('revoke an open invitation')
    .action(
      act(async (ctx, invitationId: string) => {
        await ctx.client().op('revokeInvitation', { invitationId });
        ctx.out.result({ revoked: invitationId }, () => ctx.out.line(`Revoked ${invitationId}.`));
      }),
    );
  withGrantOptions(users.command('grant <userId>').description("replace a user's grants")).action(
    act(async (ctx, userId: string, opts: GrantOptions) => {
      const grants = grantsFrom(opts);
      if (!grants) throw new UsageError('give --role, --permission or --grants');
      const u = await ctx.client().op('updateUser', { userId }, { body: { grants } });
      ctx.out.result(u, () => ctx.out.fields(u, ['id', 'username', 'grants']));
    }),
  );
  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const)
    users
      .command(`${name} <userId>`)
      .description(disabled ? 'disable a user (ends its sessions)' : 'enable a user')
      .action(
        act(async (ctx, userId: string) => {
          const u = await ctx.client().op('updateUser', { userId }, { body: { disabled } });
          ctx.out.result(u, () => ctx.out.fields(u, ['id', 'username', 'disabled']));
        }),
      );
  users
    .command('delete <userId>')
    .description('delete a user')
    .action(
      act(async (ctx, userId: string) => {
        await ctx.client().op('deleteUser', { userId });
        ctx.out.result({ deleted: userId }, () => ctx.out.line(`Deleted ${userId}.`));
      }),
    );
  users
    .command('reset-password <userId>')
    .description('issue a one-time password-reset token (valid 1 h)')
    .action(
      act(async (ctx, userId: string) => {
        const r = await ctx.client().op('issuePasswordReset', { userId });
        ctx.out.result(r, () => {
          ctx.out.line(`token  ${r.token}`);
          ctx.out.note(`Valid until ${new Date(r.expiresAt).toISOString()}: mooring reset-password <token>`);
        });
      }),
    );
  users
    .command('sessions <userId>')
    .description("a user's live sessions")
    .action(
      act(async (ctx, userId: string) => {
        const r = await ctx.client().op('listUserSessions', { userId });
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['id', 'source', 'userAgent', 'createdAt', 'lastSeenAt', 'restricted']),
        );
      }),
    );
  users
    .command('end-sessions <userId> [sessionId]')
    .description("end one or all of a user's sessions")
    .action(
      act(async (ctx, userId: string, sessionId: string | undefined) => {
        if (sessionId) await ctx.client().op('endUserSession', { userId, sessionId });
        const r = sessionId ? { ended: 1 } : await ctx.client().op('endUserSessions', { userId });
        ctx.out.result(r, () => ctx.out.line(`Ended ${r.ended} session(s).`));
      }),
    );
  users
    .command('reset-totp <userId>')
    .description("remove a user's second factor (lost device)")
    .action(
      act(async (ctx, userId: string) => {
        await ctx.client().op('resetUserTotp', { userId });
        ctx.out.result({ userId, totpEnabled: false }, () =>
          ctx.out.line(`Removed the second factor of ${userId}.`),
        );
      }),
    );
  users
    .command('unlock <userId>')
    .description("lift the login lockout of a user's name after repeated failed logins")
    .action(
      act(async (ctx, userId: string) => {
        await ctx.client().op('unlockUser', { userId });
        ctx.out.result({ userId, locked: false }, () => ctx.out.line(`Lifted the lockout of ${userId}.`));
      }),
    );

  program
    .command('accept-invitation <token>')
    .description('open an account from an invitation token (password from stdin or MOORING_PASSWORD)')
    .requiredOption('-u, --username <name>', 'your user name')
    .action(
      act(async (ctx, token: string, opts: { username: string }) => {
        const { readSecret } = await import('../act.js');
        const password = process.env.MOORING_PASSWORD ?? (await readSecret('Choose a password', false));
        const u = await ctx
          .client({ anonymous: true })
          .op('acceptInvitation', {}, { body: { token, username: opts.username, password } });
        ctx.out.result(u, () =>
          ctx.out.line(`Account ${String(u.username)} opened; run mooring login -u ${String(u.username)}.`),
        );
      }),
    );
  program
    .command('reset-password <token>')
    .description('set a new password from a reset token (password from stdin or MOORING_PASSWORD)')
    .action(
      act(async (ctx, token: string) => {
        const { readSecret } = await import('../act.js');
        const newPassword = process.env.MOORING_PASSWORD ?? (await readSecret('New password', false));
        await ctx.client({ anonymous: true }).op('resetPassword', {}, { body: { token, newPassword } });
        ctx.out.result({ reset: true }, () => ctx.out.line('Password set; log in again.'));
      }),
    );

  const roles = program.command('roles').description('built-in and custom roles');
  roles
    .command('list')
    .description('list roles with their permissions')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listRoles');
        ctx.out.result(r.items, () => ctx.out.table(r.items, ['name', 'builtIn', 'permissions']));
      }),
    );
  for (const verb of ['create', 'update'] as const)
    roles
      .command(`${verb} <name>`)
      .description(verb === 'create' ? 'create a custom role' : "replace a custom role's permissions")
      .requiredOption(
        '--permission <permission>',
        'a permission, repeatable',
        (v: string, p: string[] = []) => [...p, v],
      )
      .option('--description <text>', 'what the role is for')
      .action(
        act(async (ctx, name: string, opts: { permission: string[]; description?: string }) => {
          const body = {
            // The server names a permission it does not know (VALIDATION_FAILED).
            permissions: opts.permission as Permission[],
            ...(opts.description ? { description: opts.description } : {}),
          };
          const r =
            verb === 'create'
              ? await ctx.client().op('createRole', {}, { body: { name, ...body } })
              : await ctx.client().op('updateRole', { name }, { body });
          ctx.out.result(r, () => ctx.out.fields(r));
        }),
      );
  roles
    .command('delete <name>')
    .description('delete a custom role (its grants then grant nothing)')
    .action(
      act(async (ctx, name: string) => {
        await ctx.client().op('deleteRole', { name });
        ctx.out.result({ deleted: name }, () => ctx.out.line(`Deleted role ${name}.`));
      }),
    );

  const keys = program.command('keys').description("the tenant's API keys");
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listApiKeys');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, [
            'id',
            'name',
            'prefix',
            'grants',
            'expiresAt',
            'lastUsedAt',
            'lastUsedAddress',
            'revokedAt',
          ]),
        );
      }),
    );
  withGrantOptions(keys.command('create <name>').description('create an API key; the secret is printed once'))
    .option('--expires <duration>', 'the key stops working after this long (e.g. 90d)')
    .action(
      act(async (ctx, name: string, opts: GrantOptions & { expires?: string }) => {
        const grants = grantsFrom(opts);
        if (!grants)
          throw new UsageError(
            'an API key needs --role, --permission or --grants: nothing is granted by default',
          );
        const r = await ctx.client().op(
          'createApiKey',
          {},
          {
            body: {
              name,
              grants,
              ...(opts.expires ? { expiresAt: Date.now() + seconds(opts.expires) * 1000 } : {}),
            },
          },
        );
        ctx.out.result(r, () => {
          ctx.out.fields(r.apiKey, ['id', 'name', 'grants', 'expiresAt']);
          ctx.out.line(`secret  ${r.secret}`);
          ctx.out.note('The secret is shown once: store it now.');
        });
      }),
    );
  keys
    .command('get <keyId>')
    .description('show an API key (never its secret)')
    .action(
      act(async (ctx, keyId: string) => {
        const k = await ctx.client().op('getApiKey', { keyId });
        ctx.out.result(k, () => ctx.out.fields(k));
      }),
    );
  keys
    .command('rotate <keyId>')
    .description('a new secret for the key; the old one keeps working for --overlap')
    .option('--overlap <duration>', 'how long the old secret keeps working (default 0)', '0')
    .action(
      act(async (ctx, keyId: string, opts: { overlap: string }) => {
        const r = await ctx.client().op(
          'rotateApiKey',
          { keyId },
          {
            body: { overlapSeconds: seconds(opts.overlap) },
          },
        );
        ctx.out.result(r, () => {
          ctx.out.line(`secret  ${r.secret}`);
          ctx.out.note('The new secret is shown once.');
        });
      }),
    );
  keys
    .command('revoke <keyId>')
    .description('revoke an API key at once')
    .action(
      act(async (ctx, keyId: string) => {
        await ctx.client().op('revokeApiKey', { keyId });
        ctx.out.result({ revoked: keyId }, () => ctx.out.line(`Revoked ${keyId}.`));
      }),
    );
}
