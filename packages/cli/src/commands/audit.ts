/** The audit trail: query, export with progress, and verify the hash chain. */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import { SingleBar, Presets } from 'cli-progress';
import { act, timeArg } from '../act.js';
import { ownerOnlyStream } from '../files.js';

type Row = Record<string, unknown>;

interface Filters {
  action?: string;
  actor?: string;
  target?: string;
  from?: string;
  to?: string;
  platform?: boolean;
}

const query = (o: Filters) => ({
  action: o.action,
  actor: o.actor,
  target: o.target,
  from: timeArg(o.from),
  to: timeArg(o.to),
});
const withFilters = (c: Command) =>
  c
    .option('--action <action>', 'e.g. auth.login, "POST /v1/devices"')
    .option('--actor <actor>', 'e.g. user:usr_…, api-key:key_…')
    .option('--target <id>', 'the object acted on')
    .option('--from <time>', 'epoch ms, RFC 3339, or a duration ago (15m, 7d)')
    .option('--to <time>', 'epoch ms, RFC 3339, or a duration ago')
    .option('--platform', "the platform chain (platform administrators) instead of your tenant's");

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit trail');
  withFilters(audit.command('list').description('records, oldest first'))
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (ctx, o: Filters & { limit: string }) => {
        const rows: Row[] = [];
        const path = pathOf(o.platform ? 'listPlatformAudit' : 'listAudit');
        for await (const r of ctx.client().paginate<Row>(path, query(o), Math.min(500, Number(o.limit)))) {
          rows.push(r);
          if (rows.length >= Number(o.limit)) break;
        }
        ctx.out.result(rows, () =>
          ctx.out.table(rows, ['seq', 'at', 'actor', 'action', 'target', 'outcome', 'source']),
        );
      }),
    );
  withFilters(audit.command('export').description('every matching record as JSON lines, to a file or stdout'))
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .action(
      act(async (ctx, o: Filters & { output?: string }) => {
        // The JSON-lines export routes (exportAudit, exportPlatformAudit) answer in one response; paging
        // through the list instead shows progress and keeps memory flat on a long trail.
        const path = pathOf(o.platform ? 'listPlatformAudit' : 'listAudit');
        const sink = o.output ? ownerOnlyStream(o.output) : process.stdout;
        const bar =
          o.output && process.stderr.isTTY
            ? new SingleBar(
                { format: 'exporting {value} records', stream: process.stderr },
                Presets.shades_classic,
              )
            : undefined;
        bar?.start(0, 0);
        let n = 0;
        for await (const r of ctx.client().paginate<Row>(path, query(o))) {
          sink.write(JSON.stringify(r) + '\n');
          bar?.update(++n);
          if (!bar && o.output && n % 5000 === 0) ctx.out.note(`exported ${n} records`);
        }
        bar?.stop();
        if (o.output) {
          await new Promise<void>(
            (resolve, reject) => (sink as NodeJS.WritableStream).end(() => resolve()) ?? reject,
          );
          ctx.out.note(`exported ${n} records to ${o.output}`);
        }
      }),
    );
  audit
    .command('verify')
    .description('recompute the hash chain; exit code 1 when it is broken, with where and why')
    .option('--platform', 'the platform chain')
    .action(
      act(async (ctx, o: { platform?: boolean }) => {
        const v = await ctx.client().op(o.platform ? 'verifyPlatformAudit' : 'verifyAudit');
        ctx.out.result(v, () => {
          if (v.intact)
            ctx.out.line(
              `intact: ${v.records} records${v.retainedFrom ? ` (from ${v.retainedFrom}; older ones removed by retention)` : ''}`,
            );
          else {
            ctx.out.line(`BROKEN: ${v.breaks.length} break(s) in ${v.records} records`);
            for (const b of v.breaks) ctx.out.line(`  at ${b.seq}: ${b.reason}`);
          }
        });
        if (!v.intact) process.exitCode = 1;
      }),
    );
}
