/** Firmware artifacts and the tenant's update-signing keys (docs/ota.md). */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import { act } from '../act.js';
import { UsageError } from '../context.js';

type Row = Record<string, unknown>;

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

/** A detached signature file: 64 raw bytes, or their base64 / base64url text. */
function signatureOf(file: string): string {
  const bytes = readFile(file, 'signature');
  return bytes.length === 64 ? bytes.toString('base64') : bytes.toString('utf8').trim();
}

/** A public key: a PEM file (SPKI, as `openssl pkey -pubout` writes), or the raw key in base64url. */
function publicKeyOf(arg: string): string {
  const text = existsSync(arg) ? readFile(arg, 'public key').toString('utf8').trim() : arg.trim();
  if (!text.startsWith('-----BEGIN')) return text;
  try {
    return createPublicKey(text).export({ format: 'jwk' }).x as string;
  } catch (e) {
    throw new UsageError(`not an Ed25519 public key: ${(e as Error).message}`);
  }
}

const flat = (a: { id: string; manifest: Row; keyId: string; keyKind: string }) => ({
  id: a.id,
  ...a.manifest,
  keyId: a.keyId,
  keyKind: a.keyKind,
});

export function registerArtifacts(program: Command): void {
  const artifacts = program.command('artifacts').description('firmware artifacts');
  artifacts
    .command('upload <file>')
    .description(
      'upload an image; the server computes its SHA-256 and signs its manifest (or verifies --signature)',
    )
    .requiredOption('--firmware-version <semver>', "the firmware version (`--version` is the CLI's own)")
    .requiredOption('--hardware-class <class>', 'the hardware class it is built for')
    .requiredOption('--sequence <n>', 'anti-rollback: greater than every earlier one of the hardware class')
    .option('--min-version <semver>', 'the lowest running version it may be installed over')
    .option('--signature <file>', 'a detached Ed25519 signature by an offline update key')
    .action(
      act(
        async (
          ctx,
          file: string,
          o: {
            firmwareVersion: string;
            hardwareClass: string;
            sequence: string;
            minVersion?: string;
            signature?: string;
          },
        ) => {
          let length: number;
          try {
            length = statSync(file).size;
          } catch (e) {
            throw new UsageError(`cannot read the image ${file}: ${(e as Error).message}`);
          }
          const a = await ctx
            .client()
            .call<{ id: string; manifest: Row; keyId: string; keyKind: string }>(
              'POST',
              pathOf('uploadArtifact'),
              {
                query: {
                  version: o.firmwareVersion,
                  hardwareClass: o.hardwareClass,
                  sequence: o.sequence,
                  minVersion: o.minVersion,
                  signature: o.signature ? signatureOf(o.signature) : undefined,
                },
                bytes: { stream: createReadStream(file), length },
              },
            );
          ctx.out.result(a, () => ctx.out.fields(flat(a)));
        },
      ),
    );
  artifacts
    .command('list')
    .description("the tenant's artifacts, newest first")
    .option('--hardware-class <class>', 'only this hardware class')
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (ctx, o: { hardwareClass?: string; limit: string }) => {
        const rows: Row[] = [];
        const items = ctx
          .client()
          .paginate<{ id: string; manifest: Row; keyId: string; keyKind: string }>(
            pathOf('listArtifacts'),
            { hardwareClass: o.hardwareClass },
            Math.min(500, Number(o.limit)),
          );
        for await (const a of items) {
          rows.push(flat(a));
          if (rows.length >= Number(o.limit)) break;
        }
        ctx.out.result(rows, () =>
          ctx.out.table(rows, [
            'id',
            'version',
            'hardwareClass',
            'minVersion',
            'sequence',
            'size',
            'keyKind',
          ]),
        );
      }),
    );
  artifacts
    .command('show <artifactId>')
    .description('an artifact: manifest, signature, signing key')
    .action(
      act(async (ctx, artifactId: string) => {
        const a = await ctx.client().op('getArtifact', { artifactId });
        ctx.out.result(a, () => ctx.out.fields({ ...flat(a), signature: a.signature }));
      }),
    );
  artifacts
    .command('delete <artifactId>')
    .description('delete an artifact and its image (its sequence stays taken)')
    .action(
      act(async (ctx, artifactId: string) => {
        await ctx.client().op('deleteArtifact', { artifactId });
        ctx.out.result({ deleted: artifactId }, () => ctx.out.line(`Deleted artifact ${artifactId}.`));
      }),
    );

  const keys = program.command('update-keys').description("the tenant's update-signing keys");
  const columns = ['id', 'kind', 'status', 'name', 'publicKey', 'createdAt'];
  keys
    .command('list')
    .description('server-held and offline keys, with their status')
    .action(
      act(async (ctx) => {
        const r = await ctx.client().op('listUpdateKeys');
        ctx.out.result(r.items, () => ctx.out.table(r.items, columns));
      }),
    );
  keys
    .command('add <publicKey>')
    .description('register an offline key: a PEM file or the raw public key in base64url')
    .option('--name <name>', 'what the key is for')
    .action(
      act(async (ctx, publicKey: string, o: { name?: string }) => {
        const k = await ctx
          .client()
          .op(
            'addUpdateKey',
            {},
            { body: { publicKey: publicKeyOf(publicKey), ...(o.name ? { name: o.name } : {}) } },
          );
        ctx.out.result(k, () => ctx.out.fields(k, columns));
      }),
    );
  keys
    .command('rotate')
    .description('retire the server-held key (it still verifies) and make a new one')
    .action(
      act(async (ctx) => {
        const k = await ctx.client().op('rotateUpdateKey');
        ctx.out.result(k, () => ctx.out.fields(k, columns));
      }),
    );
  keys
    .command('revoke <updateKeyId>')
    .description('revoke a key: it verifies nothing more and devices stop receiving it')
    .action(
      act(async (ctx, updateKeyId: string) => {
        await ctx.client().op('revokeUpdateKey', { updateKeyId });
        ctx.out.result({ revoked: updateKeyId }, () => ctx.out.line(`Revoked update key ${updateKeyId}.`));
      }),
    );
}
