/** Running a server, and checking one. */
import type { Command } from 'commander';
import { act } from '../act.js';

export function registerServer(program: Command): void {
  program
    .command('serve')
    .description('run the platform (embedded database unless MOORING_DATABASE_URL is set; see the README)')
    .option(
      '--dev-insecure-mqtt',
      'also open an anonymous plain-TCP MQTT listener on 127.0.0.1 (development only)',
    )
    .action(async (o: { devInsecureMqtt?: boolean }) => {
      const { main } = await import('@mooring/server/cli');
      const code = await main(['serve', ...(o.devInsecureMqtt ? ['--dev-insecure-mqtt'] : [])]);
      if (code !== 0) process.exitCode = code;
    });
  program
    .command('status')
    .description("the server's health and readiness")
    .action(
      act(async (ctx) => {
        const client = ctx.client({ anonymous: true });
        const health = await client.op('health');
        const ready = await client
          .op('ready')
          .catch((e: unknown) => ({ status: 'not ready', error: String(e) }));
        const r = { server: ctx.server().url, health: health.status, ready: ready.status };
        ctx.out.result(r, () => ctx.out.fields(r));
      }),
    );
  program
    .command('jwks')
    .description('the public keys that verify registration tokens (JWKS)')
    .action(
      act(async (ctx) => {
        const r = await ctx.client({ anonymous: true }).op('getJwks');
        ctx.out.result(r, () => ctx.out.table(r.keys, ['kid', 'kty', 'crv', 'alg', 'use']));
      }),
    );
  program
    .command('time')
    .description(
      "the server's signed time, for checking a device clock (--key: the public key firmware pins)",
    )
    .option('--key', 'print the time-signing public key (PEM) instead')
    .action(
      act(async (ctx, o: { key?: boolean }) => {
        if (o.key) {
          const pem = await ctx.client({ anonymous: true }).op('getTimeKey');
          ctx.out.result(ctx.out.json ? { publicKeyPem: pem } : pem, () => ctx.out.line(pem.trimEnd()));
          return;
        }
        const nonce = Math.random().toString(36).slice(2).padEnd(16, '0');
        const r = await ctx.client({ anonymous: true }).op('getTime', {}, { query: { nonce } });
        ctx.out.result(r, () => ctx.out.fields(r));
      }),
    );
}
