/**
 * Provisioning over HTTPS. Technicians and factory tools (tenant credentials) manage provisioning
 * tokens and decide operations under /v1/provisioning; devices holding a provisioning token start and
 * poll their operation and refresh their registration token under /v1/device/provisioning.
 */
import { Type } from '@sinclair/typebox';
import { AppError } from '../../../errors.js';
import { SERIAL_PATTERN, VERIFICATION_CODE_PATTERN } from '../../../domains/provisioning/provisioning.js';
import { platformCaller, tenantCaller, type RoutePlugin } from '../context.js';
import { manifestCsv } from '../../../domains/provisioning/factory.js';
import { MAX_DURATION_SECONDS } from './schemas.js';
import { jsonStream } from '../json-stream.js';

const Serial = Type.String({ pattern: SERIAL_PATTERN.source, description: "the device's serial number" });
const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:=-]+$' });
const TokenCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Type.Union([Type.Literal('device'), Type.Literal('batch')], {
      description: 'device: one serial; batch: up to maxUses devices',
    }),
    serial: Type.Optional(Serial),
    maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    approval: Type.Union([Type.Literal('auto'), Type.Literal('manual')], {
      description: 'auto: factory lines; manual: a technician approves',
    }),
    deviceTags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: MAX_DURATION_SECONDS })),
  },
  { additionalProperties: false },
);
const TokenParams = Type.Object({ tokenId: Type.String({ maxLength: 64 }) });
const OperationParams = Type.Object({ operationId: Type.String({ maxLength: 64 }) });
const DeviceParams = Type.Object({ deviceId: Type.String({ maxLength: 64 }) });
const OperationStatus = Type.Union(
  (['pending', 'approved', 'rejected', 'expired', 'superseded', 'locked'] as const).map((s) =>
    Type.Literal(s),
  ),
);
const OperationQuery = Type.Object(
  {
    status: Type.Optional(OperationStatus),
    serial: Type.Optional(Serial),
    tag: Type.Optional(Tag),
    minAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DURATION_SECONDS })),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);
const Approve = Type.Object(
  { verificationCode: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })) },
  { additionalProperties: false },
);
const Reject = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 256 })) },
  { additionalProperties: false },
);
const Start = Type.Object(
  {
    serial: Serial,
    attributes: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
        description: 'what the device says about itself, at most 4 KiB',
      }),
    ),
    csr: Type.Optional(
      Type.String({ maxLength: 16384, description: 'PKCS#10 CSR (PEM) from a key the device generated' }),
    ),
    verificationCode: Type.Optional(
      Type.String({
        pattern: VERIFICATION_CODE_PATTERN.source,
        description: 'the code on the device display: 4–12 of A–Z, 0–9',
      }),
    ),
  },
  { additionalProperties: false },
);
const Poll = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 60, description: 'seconds to wait for a decision' }),
    ),
  },
  { additionalProperties: false },
);
const Batch = Type.Object(
  {
    batchId: Type.String({
      pattern: '^[A-Za-z0-9_.:-]{1,128}$',
      description: 'your id for this batch: a retry with the same id returns the same manifest',
    }),
    items: Type.Array(
      Type.Object(
        { serial: Serial, csr: Type.Optional(Type.String({ maxLength: 16384 })) },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        maxItems: 10_000,
      },
    ),
    approval: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('manual')], {
        description: 'for units without a CSR (default auto)',
      }),
    ),
    deviceTags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
  },
  { additionalProperties: false },
);
const Refresh = Type.Object(
  { registrationToken: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);

export const provisioningRoutes: RoutePlugin = (app, { services }) => {
  const tenant = { auth: 'tenant' as const };
  const tags = ['provisioning'];
  const p = services.provisioning;

  app.post<{ Body: typeof TokenCreate.static }>(
    '/v1/provisioning-tokens',
    {
      config: tenant,
      schema: { tags, summary: 'Create a provisioning token (secret shown once)', body: TokenCreate },
    },
    async (request, reply) => {
      const b = request.body;
      return reply.code(201).send(
        await p.createToken(tenantCaller(request), {
          name: b.name,
          kind: b.kind,
          approval: b.approval,
          ...(b.serial ? { serial: b.serial } : {}),
          ...(b.maxUses ? { maxUses: b.maxUses } : {}),
          ...(b.deviceTags ? { deviceTags: b.deviceTags } : {}),
          ...(b.ttlSeconds ? { ttlSeconds: b.ttlSeconds } : {}),
        }),
      );
    },
  );
  app.get(
    '/v1/provisioning-tokens',
    { config: tenant, schema: { tags, summary: 'List provisioning tokens (no secrets)' } },
    async (request) => ({
      items: await p.listTokens(tenantCaller(request)),
    }),
  );
  app.get<{ Params: typeof TokenParams.static }>(
    '/v1/provisioning-tokens/:tokenId',
    { config: tenant, schema: { tags, summary: 'Get a provisioning token', params: TokenParams } },
    async (request) => p.getToken(tenantCaller(request), request.params.tokenId),
  );
  app.delete<{ Params: typeof TokenParams.static }>(
    '/v1/provisioning-tokens/:tokenId',
    {
      config: tenant,
      schema: {
        tags,
        summary: 'Revoke a provisioning token (its pending operations are rejected)',
        params: TokenParams,
      },
    },
    async (request, reply) => {
      await p.revokeToken(tenantCaller(request), request.params.tokenId);
      return reply.code(204).send();
    },
  );
  app.get<{ Querystring: typeof OperationQuery.static }>(
    '/v1/provisioning/operations',
    {
      config: tenant,
      schema: {
        tags,
        summary: 'List provisioning operations (filter by status, serial, tag, age)',
        querystring: OperationQuery,
      },
    },
    async (request) => p.listOperations(tenantCaller(request), request.query),
  );
  app.get<{ Params: typeof OperationParams.static }>(
    '/v1/provisioning/operations/:operationId',
    { config: tenant, schema: { tags, summary: 'Get a provisioning operation', params: OperationParams } },
    async (request) => p.getOperation(tenantCaller(request), request.params.operationId),
  );
  app.post<{ Params: typeof OperationParams.static; Body: typeof Approve.static }>(
    '/v1/provisioning/operations/:operationId/approve',
    {
      config: tenant,
      schema: {
        tags,
        summary: 'Approve with the code the device shows',
        params: OperationParams,
        body: Approve,
      },
    },
    async (request) =>
      p.approve(
        tenantCaller(request),
        request.params.operationId,
        request.body.verificationCode ? { verificationCode: request.body.verificationCode } : {},
      ),
  );
  app.post<{ Params: typeof OperationParams.static; Body: typeof Reject.static }>(
    '/v1/provisioning/operations/:operationId/reject',
    {
      config: tenant,
      schema: { tags, summary: 'Reject a pending operation', params: OperationParams, body: Reject },
    },
    async (request) => p.reject(tenantCaller(request), request.params.operationId, request.body.reason),
  );
  app.post<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/registration-tokens/revoke',
    {
      config: tenant,
      schema: {
        tags,
        summary: 'Refuse every registration token of the device and drop its sessions',
        params: DeviceParams,
      },
    },
    async (request, reply) => {
      await p.revokeRegistrationTokens(tenantCaller(request), request.params.deviceId);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: typeof Batch.static }>(
    '/v1/provisioning/batches',
    {
      config: { ...tenant, ownTransactions: true },
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        tags,
        summary:
          'Factory bulk provisioning: per-unit provisioning tokens, or certificates from CSRs, and a manifest (JSON, or CSV with Accept: text/csv)',
        body: Batch,
      },
    },
    async (request, reply) => {
      const b = request.body;
      const manifest = await services.factory.provisionBatch(tenantCaller(request), {
        batchId: b.batchId,
        items: b.items.map((i) => (i.csr ? { serial: i.serial, csr: i.csr } : { serial: i.serial })),
        approval: b.approval ?? 'auto',
        ...(b.deviceTags ? { deviceTags: b.deviceTags } : {}),
      });
      if ((request.headers.accept ?? '').includes('text/csv'))
        return reply.code(201).type('text/csv').send(manifestCsv(manifest));
      return reply.code(201).type('application/json; charset=utf-8').send(jsonStream(manifest, 'items'));
    },
  );

  // Device side: the bearer is the provisioning token.
  const device = { auth: 'provisioning' as const };
  const deviceTags = ['device-provisioning'];
  const pt = (token: string | undefined) => {
    if (!token) throw new AppError('UNAUTHENTICATED');
    return token;
  };
  app.post<{ Body: typeof Start.static }>(
    '/v1/device/provisioning/operations',
    {
      config: device,
      schema: {
        tags: deviceTags,
        summary: 'Start (or restart) provisioning with a provisioning token',
        body: Start,
      },
    },
    async (request, reply) => {
      const b = request.body;
      const v = await p.start(pt(request.provisioningToken), {
        serial: b.serial,
        ...(b.attributes ? { attributes: b.attributes } : {}),
        ...(b.verificationCode ? { verificationCode: b.verificationCode } : {}),
        ...(b.csr ? { csr: b.csr } : {}),
      });
      return reply.code(v.status === 'pending' ? 202 : 200).send(v);
    },
  );
  app.get<{ Params: typeof OperationParams.static; Querystring: typeof Poll.static }>(
    '/v1/device/provisioning/operations/:operationId',
    {
      config: device,
      schema: {
        tags: deviceTags,
        summary: 'Poll an operation; with ?wait=N waits up to N s for a decision',
        params: OperationParams,
        querystring: Poll,
      },
    },
    async (request) =>
      p.poll(pt(request.provisioningToken), request.params.operationId, (request.query.wait ?? 0) * 1000),
  );
  app.post<{ Body: typeof Refresh.static }>(
    '/v1/device/provisioning/refresh',
    {
      config: device,
      schema: {
        tags: deviceTags,
        summary: 'Exchange the current registration token for a new one',
        body: Refresh,
      },
    },
    async (request) => p.refresh(pt(request.provisioningToken), request.body.registrationToken),
  );
  app.post(
    '/v1/platform/signing-keys/rotate',
    {
      config: { auth: 'platform-admin' },
      schema: {
        tags,
        summary:
          'Rotate the registration-token signing key (older keys keep verifying the tokens they signed)',
      },
    },
    async (request) => p.rotateSigningKey(platformCaller(request)),
  );
  app.get(
    '/.well-known/jwks.json',
    {
      config: { auth: 'none' },
      schema: {
        tags: deviceTags,
        summary: 'Public keys that sign registration tokens (JWK Set)',
        security: [],
      },
    },
    async () => p.jwks(),
  );
};
