/** Logging in, profiles, and the logged-in user's own account (password, sessions, 2FA). */
import type { Command } from 'commander';
import { ApiError, type MooringClient } from '@mooring/client';
import { act, readSecret } from '../act.js';
import { readCa, UsageError } from '../context.js';
import { readProfiles, removeProfile, saveProfile, writeProfiles } from '../profiles.js';

interface LoginResult {
  token: string;
  expiresAt: number;
  user: { id: string; username: string; tenantId: string | null; platformAdmin: boolean };
  totpEnrollmentRequired: boolean;
  passwordChangeRequired?: boolean;
}

type LoginBody = { username: string; password: string; totp?: string; recoveryCode?: string };

/** A login that answers with its session token: the CLI never asks for a cookie session. */
async function login(client: MooringClient, body: LoginBody): Promise<LoginResult> {
  const r = await client.op('login', {}, { body });
  if (r.token === undefined) throw new Error('the server answered the login without a session token');
  return { ...r, token: r.token };
}

export function registerAuth(program: Command): void {
  program
    .command('login')
    .description('log in (user name and password, or an API key) and save the credential in a profile')
    .option('-u, --username <name>', 'user name')
    .option('--password-stdin', 'read the password from stdin (else MOORING_PASSWORD, else a prompt)')
    .option(
      '--new-password-stdin',
      "when the password works once (the bootstrap administrator's), read the new one from the next line of stdin (else MOORING_NEW_PASSWORD, else a prompt)",
    )
    .option('--totp <code>', 'the 6-digit code of your authenticator app, when the account has 2FA')
    .option('--recovery-code <code>', 'a recovery code instead of --totp')
    .option('--api-key <key>', 'save an API key (mk_…) instead of logging in')
    .option(
      '--use',
      'also make the profile the current one (by default only a first profile becomes current)',
    )
    .action(
      act(
        async (
          ctx,
          opts: {
            username?: string;
            passwordStdin?: boolean;
            newPasswordStdin?: boolean;
            totp?: string;
            recoveryCode?: string;
            apiKey?: string;
            use?: boolean;
          },
        ) => {
          const server = ctx.server();
          const client = ctx.client({ anonymous: true });
          const makeCurrent = opts.use ? 'always' : 'if-none';
          /** Says which profile later commands use when it is not the one just saved. */
          const currentNote = (current: string | undefined) => {
            if (current !== ctx.profileName)
              ctx.out.note(
                `The current profile is still '${current}': pass -p ${ctx.profileName} to use this one, or run \`mooring profile use ${ctx.profileName}\`.`,
              );
          };
          if (opts.apiKey) {
            // Any answer but 401 proves the key: it may lack tenant:read.
            await client.op('getCurrentTenant', {}, { token: opts.apiKey }).catch((e: unknown) => {
              if (e instanceof ApiError && e.status === 403) return undefined;
              throw e;
            });
            const current = saveProfile(
              ctx.profileName,
              {
                server: server.url,
                ...(server.ca ? { ca: server.ca } : {}),
                token: opts.apiKey,
                tokenKind: 'api-key',
              },
              makeCurrent,
            );
            ctx.out.result(
              {
                profile: ctx.profileName,
                server: server.url,
                credential: 'api-key',
                currentProfile: current,
              },
              () => {
                ctx.out.line(`Saved the API key in profile '${ctx.profileName}' for ${server.url}.`);
                currentNote(current);
              },
            );
            return;
          }
          const username = opts.username ?? ctx.profile?.username;
          if (!username) throw new UsageError('give --username (or --api-key)');
          const password =
            process.env.MOORING_PASSWORD ?? (await readSecret('Password', Boolean(opts.passwordStdin)));
          const body = {
            username,
            password,
            ...(opts.totp ? { totp: opts.totp } : {}),
            ...(opts.recoveryCode ? { recoveryCode: opts.recoveryCode } : {}),
          };
          let r: LoginResult;
          try {
            r = await login(client, body);
          } catch (e) {
            if (
              e instanceof ApiError &&
              e.code === 'TOTP_REQUIRED' &&
              process.stdin.isTTY &&
              !opts.passwordStdin
            ) {
              const totp = await readSecret('One-time code', false);
              r = await login(client, { ...body, totp });
            } else throw e;
          }
          // A one-time password (the bootstrap administrator's): choose a new one, then log in with it.
          let changedPassword = false;
          if (r.passwordChangeRequired) {
            const next =
              process.env.MOORING_NEW_PASSWORD ??
              (opts.newPasswordStdin || process.stdin.isTTY
                ? await readSecret(
                    'This password works once; choose a new one',
                    Boolean(opts.newPasswordStdin),
                  )
                : undefined);
            if (next === undefined)
              throw new UsageError(
                'this password works once: give the new one with --new-password-stdin (the next line of stdin) or MOORING_NEW_PASSWORD',
              );
            await client
              .withToken(r.token)
              .op('changePassword', {}, { body: { currentPassword: password, newPassword: next } });
            r = await login(client, { ...body, password: next });
            changedPassword = true;
          }
          const current = saveProfile(
            ctx.profileName,
            {
              server: server.url,
              ...(server.ca ? { ca: server.ca } : {}),
              token: r.token,
              tokenKind: 'session',
              username,
              expiresAt: r.expiresAt,
            },
            makeCurrent,
          );
          ctx.out.result(
            {
              profile: ctx.profileName,
              currentProfile: current,
              server: server.url,
              user: r.user,
              expiresAt: r.expiresAt,
              totpEnrollmentRequired: r.totpEnrollmentRequired,
              passwordChanged: changedPassword,
            },
            () => {
              if (changedPassword) ctx.out.line('The one-time password is spent; your new password is set.');
              ctx.out.line(
                `Logged in as ${r.user.username} on ${server.url} (profile '${ctx.profileName}', until ${new Date(r.expiresAt).toISOString()}).`,
              );
              currentNote(current);
              if (r.totpEnrollmentRequired)
                ctx.out.note(
                  'Your tenant requires two-factor authentication: run `mooring account totp enable`, then log in again.',
                );
            },
          );
        },
      ),
    );

  program
    .command('logout')
    .description("end the profile's session and forget its credential")
    .action(
      act(async (ctx) => {
        if (ctx.profile?.token && ctx.profile.tokenKind === 'session')
          await ctx
            .client()
            .op('logout')
            .catch(() => undefined);
        const data = readProfiles();
        const p = data.profiles[ctx.profileName];
        if (p) {
          delete p.token;
          delete p.tokenKind;
          delete p.expiresAt;
          writeProfiles(data);
        }
        ctx.out.result({ profile: ctx.profileName, loggedOut: true }, () =>
          ctx.out.line(`Logged out of profile '${ctx.profileName}'.`),
        );
      }),
    );

  program
    .command('whoami')
    .description('who the credential in effect is, and what it may do')
    .action(
      act(async (ctx) => {
        const kind = ctx.globals.token ?? process.env.MOORING_TOKEN ?? ctx.profile?.token;
        if (kind?.startsWith('mk_')) {
          const tenant = await ctx
            .client()
            .op('getCurrentTenant')
            .catch((e: unknown) => {
              if (e instanceof ApiError && e.status === 403) return undefined;
              throw e;
            });
          ctx.out.result({ credential: 'api-key', prefix: kind.slice(0, 10), tenant }, () =>
            ctx.out.fields({
              credential: 'api-key',
              prefix: kind.slice(0, 10),
              tenant: (tenant as { name?: string } | undefined)?.name,
            }),
          );
          return;
        }
        const me = await ctx.client().op('me');
        ctx.out.result(me, () => {
          ctx.out.fields(me.user, ['id', 'username', 'tenantId', 'platformAdmin', 'totpEnabled']);
          for (const g of me.grants as { permissions: string[]; scope: Record<string, string> }[])
            ctx.out.line(`grant ${JSON.stringify(g.scope)}: ${g.permissions.join(' ')}`);
          if (me.restricted) ctx.out.note('This session may only enrol two-factor authentication.');
          if (me.user.passwordChangeRequired)
            ctx.out.note(
              'This password works once: change it with `mooring account password`, then log in again.',
            );
        });
      }),
    );

  const profile = program.command('profile').description('saved servers and credentials');
  profile
    .command('list')
    .description('list profiles (credentials are not shown)')
    .action(
      act((ctx) => {
        const data = readProfiles();
        const rows = Object.entries(data.profiles).map(([name, p]) => ({
          name,
          current: name === data.current ? '*' : '',
          server: p.server,
          credential: p.tokenKind ?? '',
          username: p.username ?? '',
          expiresAt: p.expiresAt,
        }));
        ctx.out.result(rows, () =>
          ctx.out.table(rows, ['current', 'name', 'server', 'credential', 'username', 'expiresAt']),
        );
      }),
    );
  profile
    .command('use <name>')
    .description('make a profile the current one')
    .action(
      act((ctx, name: string) => {
        const data = readProfiles();
        if (!data.profiles[name]) throw new UsageError(`no profile '${name}'`);
        data.current = name;
        writeProfiles(data);
        ctx.out.result({ current: name }, () => ctx.out.line(`Profile '${name}' is now current.`));
      }),
    );
  profile
    .command('set <name>')
    .description('create or change a profile without logging in (--server, and --ca when needed)')
    .action(
      // --server and --ca are the global options: the program's parser takes them wherever they stand.
      act((ctx, name: string) => {
        const server = ctx.globals.server;
        if (!server) throw new UsageError('give the profile a server: --server https://host:8443');
        const existing = readProfiles().profiles[name];
        const ca = readCa(ctx.globals.ca);
        saveProfile(name, { ...existing, server, ...(ca ? { ca } : {}) }, 'if-none');
        ctx.out.result({ profile: name, server }, () => ctx.out.line(`Saved profile '${name}'.`));
      }),
    );
  profile
    .command('remove <name>')
    .description('forget a profile and its credential')
    .action(
      act((ctx, name: string) => {
        if (!removeProfile(name)) throw new UsageError(`no profile '${name}'`);
        ctx.out.result({ removed: name }, () => ctx.out.line(`Removed profile '${name}'.`));
      }),
    );

  const account = program.command('account').description("the logged-in user's own account");
  account
    .command('password')
    .description(
      'change your password (ends all your sessions); reads current and new password from stdin lines or prompts',
    )
    .action(
      act(async (ctx) => {
        const current = await readSecret('Current password', false);
        const next = await readSecret('New password', false);
        await ctx
          .client()
          .op('changePassword', {}, { body: { currentPassword: current, newPassword: next } });
        ctx.out.result({ changed: true }, () => ctx.out.line('Password changed; log in again.'));
      }),
    );
  account
    .command('sessions')
    .description('your live sessions')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listMySessions');
        ctx.out.result(r.items, () =>
          ctx.out.table(r.items, ['id', 'current', 'source', 'userAgent', 'createdAt', 'lastSeenAt']),
        );
      }),
    );
  account
    .command('end-session <sessionId>')
    .description('end one of your sessions')
    .action(
      act(async (ctx, sessionId: string) => {
        await ctx.client().op('endMySession', { sessionId });
        ctx.out.result({ ended: sessionId }, () => ctx.out.line(`Ended ${sessionId}.`));
      }),
    );
  const totp = account.command('totp').description('two-factor authentication');
  totp
    .command('enable')
    .description('start enrolment: prints the secret and otpauth:// URI; confirm with `totp confirm <code>`')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('beginTotp');
        ctx.out.result(r, () => {
          ctx.out.line(`Add this to your authenticator app:\n  ${r.uri}\n  (secret ${r.secret})`);
          ctx.out.note('Then run: mooring account totp confirm <code>');
        });
      }),
    );
  totp
    .command('confirm <code>')
    .description('confirm enrolment with a first code; prints recovery codes once; ends your sessions')
    .action(
      act(async (ctx, code: string) => {
        const r = await ctx.client().op('confirmTotp', {}, { body: { code } });
        ctx.out.result(r, () => {
          ctx.out.line(
            'Two-factor authentication is on. Recovery codes (each works once; store them safely):',
          );
          for (const c of r.recoveryCodes) ctx.out.line(`  ${c}`);
          ctx.out.note('Log in again with --totp.');
        });
      }),
    );
  totp
    .command('disable <code>')
    .description('turn 2FA off with a current code (asks for the password)')
    .action(
      act(async (ctx, code: string) => {
        const password = process.env.MOORING_PASSWORD ?? (await readSecret('Password', false));
        await ctx.client().op('disableTotp', {}, { body: { password, code } });
        ctx.out.result({ totpEnabled: false }, () => ctx.out.line('Two-factor authentication is off.'));
      }),
    );
}
