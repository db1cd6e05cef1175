/**
 * The configuration twin (docs/config.md): a device's desired and reported configuration with the
 * acknowledged version and what is pending, a merge-patch change of the desired one, the history of
 * both, and the JSON Schemas per device tag.
 */
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import { act, collect, parseJson } from '../act.js';
import { UsageError, type Ctx } from '../context.js';
import {
  buildPatch,
  ifMatchHeader,
  memberRows,
  readText,
  summary,
  type DeviceConfigView,
  type SetOptions,
} from './config-patch.js';

type Row = Record<string, unknown>;

function showConfig(ctx: Ctx, c: DeviceConfigView): void {
  ctx.out.result(c, () => {
    ctx.out.fields(summary(c));
    ctx.out.line('');
    ctx.out.table(memberRows(c), [
      'key',
      'desired',
      'reported',
      'pending',
      'desiredChange',
      'reportedChange',
    ]);
  });
}

/** The schema of `schemas create|update`: `--schema '<json>'` or `--file f.json`, a JSON object. */
function schemaOf(o: { schema?: string; file?: string }): Record<string, unknown> {
  if ((o.schema === undefined) === (o.file === undefined))
    throw new UsageError('give the JSON Schema with --schema or --file (one of them)');
  const text = o.file !== undefined ? readText(o.file) : o.schema;
  const schema = parseJson(text!, o.file ?? '--schema');
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
    throw new UsageError('a JSON Schema here is a JSON object');
  return schema as Record<string, unknown>;
}

const showSchema = (ctx: Ctx, s: Row) =>
  ctx.out.result(s, () => ctx.out.fields({ ...s, schema: JSON.stringify(s.schema) }));

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description("devices' desired and reported configuration (the configuration twin)");
  config
    .command('get <deviceId>')
    .description(
      'desired and reported configuration, acknowledged version, what is pending, who changed what',
    )
    .action(
      act(async (ctx, deviceId: string) => {
        showConfig(ctx, await ctx.client().op('getDeviceConfig', { deviceId }));
      }),
    );
  config
    .command('set <deviceId>')
    .description('change the desired configuration by a JSON Merge Patch (null deletes a member)')
    .option('--patch <json>', 'the merge patch, e.g. \'{"sampling":{"seconds":30}}\'')
    .option('--file <file>', 'the merge patch from a JSON file')
    .option(
      '--set <path=value>',
      'set a member, e.g. sampling.seconds=30 (JSON when it parses, else text); repeatable',
      collect,
    )
    .option('--unset <path>', 'delete a member, e.g. debug.level; repeatable', collect)
    .option(
      '--if-match <version>',
      'refuse (CONFIG_VERSION_CONFLICT) unless the desired version is still this one',
    )
    .option('--dry-run', 'print the merge patch and send nothing')
    .action(
      act(async (ctx, deviceId: string, o: SetOptions & { dryRun?: boolean }) => {
        const patch = buildPatch(o);
        const headers = {
          'content-type': 'application/merge-patch+json',
          ...ifMatchHeader(o.ifMatch),
        };
        if (o.dryRun) {
          ctx.out.result({ deviceId, patch, headers });
          return;
        }
        const c = await ctx.client().op('patchDesiredConfig', { deviceId }, { body: patch, headers });
        showConfig(ctx, c);
      }),
    );
  config
    .command('history <deviceId>')
    .description('changes of the desired and reported configuration, newest first')
    .option('--side <side>', 'desired or reported (default: both)')
    .option('--limit <n>', 'at most this many', '50')
    .action(
      act(async (ctx, deviceId: string, o: { side?: string; limit: string }) => {
        if (o.side !== undefined && o.side !== 'desired' && o.side !== 'reported')
          throw new UsageError(`--side is desired or reported, not '${o.side}'`);
        const limit = Number(o.limit);
        if (!Number.isSafeInteger(limit) || limit < 1)
          throw new UsageError('--limit takes a whole number of at least 1');
        const rows: Row[] = [];
        const path = pathOf('listConfigHistory', { deviceId });
        for await (const r of ctx.client().paginate<Row>(path, { side: o.side }, Math.min(500, limit))) {
          rows.push(r);
          if (rows.length >= limit) break;
        }
        ctx.out.result(rows, () =>
          ctx.out.table(
            rows.map((r) => ({ ...r, patch: JSON.stringify(r.patch) })),
            ['side', 'version', 'at', 'actor', 'patch'],
          ),
        );
      }),
    );

  const schemas = config
    .command('schemas')
    .description('JSON Schemas (draft 2020-12) the desired configuration of devices with a tag must match');
  schemas
    .command('list')
    .description('the schemas of your tenant')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listConfigSchemas');
        ctx.out.result(r.items, () => ctx.out.table(r.items, ['name', 'tag', 'createdAt', 'updatedAt']));
      }),
    );
  const schemaOptions = (c: Command) =>
    c
      .requiredOption('--tag <tag>', 'the device tag it applies to')
      .option('--schema <json>', 'the JSON Schema')
      .option('--file <file>', 'the JSON Schema from a file');
  schemaOptions(schemas.command('create <name>').description('add a schema for a tag')).action(
    act(async (ctx, name: string, o: { tag: string; schema?: string; file?: string }) => {
      const body = { name, tag: o.tag, schema: schemaOf(o) };
      showSchema(ctx, await ctx.client().op('createConfigSchema', {}, { body }));
    }),
  );
  schemaOptions(schemas.command('update <name>').description('replace a schema (and its tag)')).action(
    act(async (ctx, schemaName: string, o: { tag: string; schema?: string; file?: string }) => {
      const body = { tag: o.tag, schema: schemaOf(o) };
      showSchema(ctx, await ctx.client().op('putConfigSchema', { schemaName }, { body }));
    }),
  );
  schemas
    .command('delete <name>')
    .description('remove a schema: desired writes are no longer checked against it')
    .action(
      act(async (ctx, schemaName: string) => {
        await ctx.client().op('deleteConfigSchema', { schemaName });
        ctx.out.result({ deleted: schemaName }, () => ctx.out.line(`Deleted the schema ${schemaName}.`));
      }),
    );
}
