/**
 * The `mooring` command line. Every management operation of the REST API, grouped by resource;
 * `--json` on every command; profiles for server and credential; `serve` and `demo` run a server.
 * Exit codes: 0 done, 1 refused by the API (4xx), 2 usage, 3 not authenticated or not allowed
 * (401/403), 4 not found (404), 5 server error or unreachable.
 */
import { Command, CommanderError, Option } from 'commander';
import { ApiError, ConnectionError } from '@mooring/client';
import { UsageError } from './context.js';
import { ProfileError } from './profiles.js';
import { registerAuth } from './commands/auth.js';
import { registerAdmin } from './commands/admin.js';
import { registerTeam } from './commands/team.js';
import { registerDevices } from './commands/devices.js';
import { registerProvisioning } from './commands/provisioning.js';
import { registerPki } from './commands/pki.js';
import { registerAudit } from './commands/audit.js';
import { registerFleet } from './commands/fleet.js';
import { registerLimits } from './commands/limits.js';
import { registerArtifacts } from './commands/artifacts.js';
import { registerDeployments } from './commands/deployments.js';
import { registerBridges } from './commands/bridges.js';
import { registerConfig } from './commands/config.js';
import { registerAlerts } from './commands/alerts.js';
import { registerWebhooks } from './commands/webhooks.js';
import { registerServer } from './commands/server.js';
import { registerSimulate } from './commands/simulate.js';
import { registerDemo } from './commands/demo.js';

export const EXIT = { ok: 0, refused: 1, usage: 2, auth: 3, notFound: 4, server: 5 } as const;

export function buildProgram(): Command {
  const program = new Command('mooring')
    .description('Mooring IoT device platform: run a server, and manage it over its REST API')
    .version('0.1.0')
    .addOption(
      new Option('-p, --profile <name>', 'profile to use (default: the current one)').env('MOORING_PROFILE'),
    )
    .option('--server <url>', 'server URL, e.g. https://localhost:8443 (or MOORING_SERVER)')
    .option('--token <credential>', 'session token or API key (or MOORING_TOKEN)')
    .option('--ca <file>', 'PEM file of the CA to trust (or MOORING_CA)')
    .option('--json', 'print one JSON document on stdout, for scripts')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: true })
    // Subcommands inherit these: commander throws instead of exiting, and writes to stderr.
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of [
    registerServer,
    registerAuth,
    registerAdmin,
    registerTeam,
    registerDevices,
    registerConfig,
    registerProvisioning,
    registerPki,
    registerAudit,
    registerFleet,
    registerLimits,
    registerArtifacts,
    registerDeployments,
    registerBridges,
    registerAlerts,
    registerWebhooks,
    registerSimulate,
    registerDemo,
  ])
    register(program);
  return program;
}

function exitFor(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status >= 500) return EXIT.server;
  return EXIT.refused;
}

/** Prints an error for people (or as JSON with --json) and returns the exit code. */
export function report(err: unknown, json: boolean): number {
  const write = (s: string) => process.stderr.write(s + '\n');
  if (err instanceof ApiError) {
    const p = err.problem;
    if (json) process.stdout.write(JSON.stringify({ error: p }, null, 2) + '\n');
    write(`mooring: ${p.code} (${err.status}): ${p.detail ?? p.title ?? ''}`);
    // A problem member named `status` that is not the HTTP status (DEPLOYMENT_STATE_CONFLICT's).
    if (p.status !== err.status) write(`  status: ${JSON.stringify(p.status)}`);
    for (const e of p.errors ?? []) write(`  ${e.path}: ${e.message}`);
    for (const k of [
      'permission',
      'missing',
      'retryAfterMs',
      'attemptsLeft',
      'latestSequence',
      'excluded',
      'deploymentStatus',
      'currentVersion',
      'limit',
      'max',
      'actual',
      'schema',
      // ALERT_STATE_CONFLICT: the state the alert is in.
      'state',
    ])
      if (p[k] !== undefined) write(`  ${k}: ${JSON.stringify(p[k])}`);
    if (err.advice) write(`  ${err.advice}`);
    if (p.requestId) write(`  request ${p.requestId}`);
    return exitFor(err.status);
  }
  if (err instanceof ConnectionError) {
    if (json)
      process.stdout.write(JSON.stringify({ error: { code: 'UNREACHABLE', detail: err.message } }) + '\n');
    write(`mooring: ${err.message}`);
    write('  Check --server and that the server runs; with a self-hosted server pass its CA with --ca.');
    return EXIT.server;
  }
  if (err instanceof UsageError || err instanceof ProfileError) {
    write(`mooring: ${err.message}`);
    return EXIT.usage;
  }
  write(`mooring: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return EXIT.server;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // A command may set its own exit code (audit verify on a broken chain).
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; anything else commander refuses is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return report(err, argv.includes('--json'));
  }
}
