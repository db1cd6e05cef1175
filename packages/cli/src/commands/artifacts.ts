/** Firmware artifacts and the tenant's update-signing keys (docs/ota.md). */
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import { pathOf } from '@mooring/client';
import {
  ArtifactUploadQuery,
  MAX_ARTIFACT_SEQUENCE,
  artifactSignedText,
  checkSchema,
  type SignedManifestFields,
} from '@mooring/protocol';
import { act } from '../act.js';
import { UsageError } from '../context.js';
import { writeOwnerOnly } from '../files.js';

type Row = Record<string, unknown>;

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as Error).message}`);
  }
}

/** What the upload query takes: base64 or base64url text of the 64 signature bytes. */
const SIGNATURE_TEXT = /^[A-Za-z0-9+/_-]{86}(==)?$/;

/**
 * A detached signature: a file holding the 64 raw bytes or their base64 / base64url text (as
 * `artifacts sign --out` writes), or that text itself (as `artifacts sign` prints).
 */
function signatureOf(arg: string): string {
  if (!existsSync(arg) && SIGNATURE_TEXT.test(arg.trim())) return arg.trim();
  const bytes = readFile(arg, 'signature');
  return bytes.length === 64 ? bytes.toString('base64') : bytes.toString('utf8').trim();
}

/** Size and SHA-256 of a file, as the device computes them (streamed: an image may be large). */
async function digestOf(file: string): Promise<{ size: number; sha256: string }> {
  // Loaded here, not with the command line: the device SDK (MQTT) is most of the CLI's start-up.
  const { fileDigest } = await import('@mooring/device-sdk');
  try {
    return await fileDigest(file);
  } catch (e) {
    throw new UsageError(`cannot read the image ${file}: ${(e as Error).message}`);
  }
}

/**
 * The manifest fields `artifacts sign` signs (all but the image's size and digest), checked by the
 * upload's own query schema before the image is read: a signature over a value the server refuses
 * would be worth nothing.
 */
function signedFields(o: SignOptions): Omit<SignedManifestFields, 'size' | 'sha256'> {
  const query = {
    version: o.firmwareVersion,
    hardwareClass: o.hardwareClass,
    ...(o.minVersion !== undefined ? { minVersion: o.minVersion } : {}),
    sequence: /^\d+$/.test(o.sequence) ? Number(o.sequence) : NaN,
  };
  const checked = checkSchema(ArtifactUploadQuery, query, {
    version: `--firmware-version '${o.firmwareVersion}' is not a semantic version (e.g. 1.4.0)`,
    minVersion: `--min-version '${o.minVersion}' is not a semantic version (e.g. 1.4.0)`,
    hardwareClass: `--hardware-class '${o.hardwareClass}': 1-64 of A-Z a-z 0-9 _ . : -`,
    sequence: `--sequence '${o.sequence}': an integer from 1 to ${MAX_ARTIFACT_SEQUENCE}`,
  });
  if (!checked.ok) throw new UsageError(checked.message);
  if (!o.tenant.trim()) throw new UsageError('--tenant: the id of the tenant the image is for (ten_…)');
  return {
    tenantId: o.tenant,
    version: o.firmwareVersion,
    hardwareClass: o.hardwareClass,
    minVersion: o.minVersion ?? null,
    sequence: checked.value.sequence,
  };
}

interface SignOptions {
  key: string;
  tenant: string;
  firmwareVersion: string;
  hardwareClass: string;
  sequence: string;
  minVersion?: string;
  out?: string;
}

/** An Ed25519 private key from a PEM file (PKCS#8, as `update-keys generate` and `openssl genpkey` write). */
function privateKeyOf(file: string) {
  const pem = readFile(file, 'private key').toString('utf8');
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new UsageError(
      `${file} is not a readable private key (an unencrypted PKCS#8 PEM): ${(e as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(`${file} holds an ${key.asymmetricKeyType} key; update keys are Ed25519`);
  return key;
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
    .option(
      '--signature <file|base64>',
      'a detached Ed25519 signature by an offline update key (`artifacts sign`): a file, or the base64 text',
    )
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
    .command('sign <file>')
    .description(
      'sign an image offline with an Ed25519 update key, for `artifacts upload --signature` (no server call)',
    )
    .requiredOption(
      '--key <pem-file>',
      'the private update key (PKCS#8 PEM, as `update-keys generate` writes)',
    )
    .requiredOption('--tenant <tenantId>', 'the tenant the image is uploaded to (signed: ten_…)')
    .requiredOption('--firmware-version <semver>', 'the version it will be uploaded as')
    .requiredOption('--hardware-class <class>', 'the hardware class it will be uploaded as')
    .requiredOption('--sequence <n>', 'the anti-rollback sequence it will be uploaded with')
    .option('--min-version <semver>', 'the minimum version it will be uploaded with')
    .option('--out <file>', 'also write the signature (base64) to this file')
    .action(
      act(async (ctx, file: string, o: SignOptions) => {
        const key = privateKeyOf(o.key);
        const checked = signedFields(o);
        const { size, sha256 } = await digestOf(file);
        if (size === 0) throw new UsageError('the image is empty: the server refuses empty images');
        const fields: SignedManifestFields = { ...checked, size, sha256 };
        const signedText = artifactSignedText(fields);
        const signature = sign(null, Buffer.from(signedText, 'utf8'), key).toString('base64');
        const publicKey = createPublicKey(key).export({ format: 'jwk' }).x as string;
        if (o.out) {
          try {
            writeFileSync(o.out, signature + '\n');
          } catch (e) {
            throw new UsageError(`cannot write ${o.out}: ${(e as Error).message}`);
          }
        }
        ctx.out.result({ ...fields, signature, publicKey, signedText }, () => {
          ctx.out.line(signature);
          ctx.out.note(
            `signed ${file}: ${size} bytes, sha256 ${sha256}, by the key ${publicKey}` +
              (o.out ? `; written to ${o.out}` : ''),
          );
        });
      }),
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
    .command('generate')
    .description(
      'make an Ed25519 key pair for offline signing: the private key (PEM, mode 0600) and the public key for `update-keys add`',
    )
    .option('--out <dir>', 'the directory to write into (made when missing)', '.')
    .option('--file-name <name>', 'the files are <name>.pem (private) and <name>.pub (public)', 'update-key')
    .option('--force', 'replace existing files of that name')
    .action(
      act((ctx, o: { out: string; fileName: string; force?: boolean }) => {
        const privateKeyFile = join(o.out, `${o.fileName}.pem`);
        const publicKeyFile = join(o.out, `${o.fileName}.pub`);
        for (const f of [privateKeyFile, publicKeyFile])
          if (existsSync(f) && !o.force) throw new UsageError(`${f} exists (--force replaces it)`);
        const pair = generateKeyPairSync('ed25519');
        const publicKey = pair.publicKey.export({ format: 'jwk' }).x as string;
        try {
          mkdirSync(o.out, { recursive: true, mode: 0o700 });
          writeOwnerOnly(privateKeyFile, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
          writeFileSync(publicKeyFile, publicKey + '\n');
        } catch (e) {
          throw new UsageError(`cannot write the key pair into ${o.out}: ${(e as Error).message}`);
        }
        ctx.out.result({ privateKeyFile, publicKeyFile, publicKey }, () => {
          ctx.out.fields({ privateKeyFile, publicKeyFile, publicKey });
          ctx.out.note(
            `Register the public key with: mooring update-keys add ${publicKeyFile} --name <name>\n` +
              `Keep ${privateKeyFile} off the platform: whoever holds it can sign firmware for your devices.`,
          );
        });
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
