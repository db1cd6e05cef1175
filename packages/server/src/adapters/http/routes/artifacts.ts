/**
 * Firmware artifacts and update keys (`docs/ota.md`): the streamed upload, lists, delete, and the
 * device's key list and ranged download.
 */
import { Readable } from 'node:stream';
import type {
  ArtifactListQuery,
  ArtifactParams,
  ArtifactUploadQuery,
  UpdateKeyAdd,
  UpdateKeyParams,
} from '@mooring/protocol';
import { AppError, isAppError } from '../../../errors.js';
import { deviceOf, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

/** A byte range to send, `undefined` for the whole body, or `unsatisfiable` (416). */
export type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * One `bytes=` range of RFC 9110 §14.1.2 over `size` bytes. A header that is not one well-formed
 * byte range (another unit, several ranges, first > last) is ignored and the whole body sent, as
 * RFC 9110 §14.2 allows; a range starting at or past the end, or an empty suffix, is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

export const artifactRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['firmware'];
  const artifacts = services.artifacts;
  app.post<{ Querystring: typeof ArtifactUploadQuery.static }>(
    '/v1/artifacts',
    {
      config: { ...config, streamedBody: true, ownTransactions: true },
      // The body is the image, read as a stream by the service; the query is validated as usual.
      validatorCompiler: ({ httpPart, schema }) =>
        httpPart === 'body' ? () => true : app.validatorCompiler!({ schema, httpPart } as never),
      schema: {
        ...api('uploadArtifact', config.auth),
        consumes: ['application/octet-stream'],
        body: { type: 'string', format: 'binary', description: 'the image' },
        tags,
        summary: 'Upload a firmware image (streamed) with its manifest; the server signs or verifies it',
      },
    },
    async (request, reply) => {
      if (request.body !== undefined && !(request.body instanceof Readable))
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the image as application/octet-stream');
      // No body is an empty image, refused by the service after the caller's permission is checked.
      const body = (request.body as Readable | undefined) ?? Readable.from([]);
      const length = Number(request.headers['content-length']);
      try {
        const artifact = await artifacts.upload(
          tenantCaller(request),
          { ...request.query, ...(Number.isSafeInteger(length) ? { declaredSize: length } : {}) },
          body,
        );
        return reply.code(201).send(artifact);
      } catch (e) {
        // What the client is still sending is not read: the connection ends with the answer.
        if (!body.readableEnded) reply.header('connection', 'close');
        // A client that went away mid-body is a refusal (recorded as such), not a server failure.
        if (!isAppError(e) && (request.raw.readableAborted || request.raw.destroyed))
          throw new AppError('VALIDATION_FAILED', 'the body broke off before its end (the client went away)');
        throw e;
      }
    },
  );
  app.get<{ Querystring: typeof ArtifactListQuery.static }>(
    '/v1/artifacts',
    {
      config,
      schema: {
        ...api('listArtifacts', config.auth),
        tags,
        summary: "List the tenant's artifacts, newest first",
      },
    },
    async (request) => artifacts.list(tenantCaller(request), request.query),
  );
  app.get<{ Params: typeof ArtifactParams.static }>(
    '/v1/artifacts/:artifactId',
    {
      config,
      schema: {
        ...api('getArtifact', config.auth),
        tags,
        summary: 'Get an artifact: manifest, signature, key',
      },
    },
    async (request) => artifacts.get(tenantCaller(request), request.params.artifactId),
  );
  app.delete<{ Params: typeof ArtifactParams.static }>(
    '/v1/artifacts/:artifactId',
    {
      config,
      schema: { ...api('deleteArtifact', config.auth), tags, summary: 'Delete an artifact and its image' },
    },
    async (request, reply) => {
      await artifacts.delete(tenantCaller(request), request.params.artifactId);
      return reply.code(204).send();
    },
  );
  app.get(
    '/v1/update-keys',
    {
      config,
      schema: {
        ...api('listUpdateKeys', config.auth),
        tags,
        summary: "List the tenant's update-signing keys (server and offline; active, retired, revoked)",
      },
    },
    async (request) => ({ items: await artifacts.listKeys(tenantCaller(request)) }),
  );
  app.post<{ Body: typeof UpdateKeyAdd.static }>(
    '/v1/update-keys',
    {
      config,
      schema: {
        ...api('addUpdateKey', config.auth),
        tags,
        summary: 'Register the public half of an offline update-signing key',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await artifacts.addKey(tenantCaller(request), request.body)),
  );
  app.post(
    '/v1/update-keys/rotate',
    {
      config,
      schema: {
        ...api('rotateUpdateKey', config.auth),
        tags,
        summary: 'Retire the server-held update key (it still verifies) and make a new one',
      },
    },
    async (request, reply) => reply.code(201).send(await artifacts.rotateKey(tenantCaller(request))),
  );
  app.delete<{ Params: typeof UpdateKeyParams.static }>(
    '/v1/update-keys/:updateKeyId',
    {
      config,
      schema: { ...api('revokeUpdateKey', config.auth), tags, summary: 'Revoke an update key' },
    },
    async (request, reply) => {
      await artifacts.revokeKey(tenantCaller(request), request.params.updateKeyId);
      return reply.code(204).send();
    },
  );

  const device = { auth: 'device' as const };
  app.get(
    '/v1/device/update-keys',
    {
      config: device,
      schema: {
        ...api('fetchUpdateKeys', device.auth),
        tags: ['device-api'],
        summary:
          "The tenant's update public keys (active and retired) that artifact manifests are signed with",
      },
    },
    async (request) => ({ items: await artifacts.keysForDevice(deviceOf(request)) }),
  );
  app.get<{ Params: typeof ArtifactParams.static }>(
    '/v1/device/artifacts/:artifactId',
    {
      config: device,
      schema: {
        ...api('downloadArtifact', device.auth),
        tags: ['device-api'],
        summary: "Download an artifact of the device's tenant; Range for resuming (one range)",
      },
    },
    async (request, reply) => {
      const download = await artifacts.openForDevice(deviceOf(request), request.params.artifactId);
      const { size, sha256 } = download.artifact.manifest;
      reply.header('accept-ranges', 'bytes').header('etag', `"${sha256}"`);
      const range = parseRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${size}`);
        throw new AppError('RANGE_NOT_SATISFIABLE', `the artifact has ${size} bytes`);
      }
      const { start, end } = range ?? { start: 0, end: size - 1 };
      if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
      return reply
        .type('application/octet-stream')
        .header('content-length', String(end - start + 1))
        .send(Readable.from(download.read(start, end)));
    },
  );
};
