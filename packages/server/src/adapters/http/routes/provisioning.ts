/**
 * Provisioning over HTTPS. Technicians and factory tools (tenant credentials) manage provisioning
 * tokens and decide operations under /v1/provisioning; devices holding a provisioning token start and
 * poll their operation and refresh their registration token under /v1/device/provisioning.
 */
import type {
  DeviceParams,
  FactoryBatch,
  ProvisioningApprove,
  ProvisioningOperationParams,
  ProvisioningOperationQuery,
  ProvisioningPollQuery,
  ProvisioningReject,
  ProvisioningStartSchema,
  ProvisioningTokenCreate,
  ProvisioningTokenParams,
  RegistrationTokenRefresh,
} from '@mooring/protocol';
import { AppError } from '../../../errors.js';
import { platformCaller, tenantCaller, type RoutePlugin } from '../context.js';
import { manifestCsv } from '../../../domains/provisioning/factory.js';
import { jsonStream } from '../json-stream.js';
import { api } from '../openapi.js';

export const provisioningRoutes: RoutePlugin = (app, { services }) => {
  const tenant = { auth: 'tenant' as const };
  const tags = ['provisioning'];
  const p = services.provisioning;

  app.post<{ Body: typeof ProvisioningTokenCreate.static }>(
    '/v1/provisioning-tokens',
    {
      config: tenant,
      schema: {
        ...api('createProvisioningToken', 'tenant'),
        tags,
        summary: 'Create a provisioning token (secret shown once)',
      },
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
    {
      config: tenant,
      schema: {
        ...api('listProvisioningTokens', 'tenant'),
        tags,
        summary: 'List provisioning tokens (no secrets)',
      },
    },
    async (request) => ({
      items: await p.listTokens(tenantCaller(request)),
    }),
  );
  app.get<{ Params: typeof ProvisioningTokenParams.static }>(
    '/v1/provisioning-tokens/:tokenId',
    {
      config: tenant,
      schema: {
        ...api('getProvisioningToken', 'tenant'),
        tags,
        summary: 'Get a provisioning token',
      },
    },
    async (request) => p.getToken(tenantCaller(request), request.params.tokenId),
  );
  app.delete<{ Params: typeof ProvisioningTokenParams.static }>(
    '/v1/provisioning-tokens/:tokenId',
    {
      config: tenant,
      schema: {
        ...api('revokeProvisioningToken', 'tenant'),
        tags,
        summary: 'Revoke a provisioning token (its pending operations are rejected)',
      },
    },
    async (request, reply) => {
      await p.revokeToken(tenantCaller(request), request.params.tokenId);
      return reply.code(204).send();
    },
  );
  app.get<{ Querystring: typeof ProvisioningOperationQuery.static }>(
    '/v1/provisioning/operations',
    {
      config: tenant,
      schema: {
        ...api('listOperations', 'tenant'),
        tags,
        summary: 'List provisioning operations (filter by status, serial, tag, age)',
      },
    },
    async (request) => p.listOperations(tenantCaller(request), request.query),
  );
  app.get<{ Params: typeof ProvisioningOperationParams.static }>(
    '/v1/provisioning/operations/:operationId',
    {
      config: tenant,
      schema: {
        ...api('getOperation', 'tenant'),
        tags,
        summary: 'Get a provisioning operation',
      },
    },
    async (request) => p.getOperation(tenantCaller(request), request.params.operationId),
  );
  app.post<{ Params: typeof ProvisioningOperationParams.static; Body: typeof ProvisioningApprove.static }>(
    '/v1/provisioning/operations/:operationId/approve',
    {
      config: tenant,
      schema: {
        ...api('approveOperation', 'tenant'),
        tags,
        summary: 'Approve with the code the device shows',
      },
    },
    async (request) =>
      p.approve(
        tenantCaller(request),
        request.params.operationId,
        request.body.verificationCode ? { verificationCode: request.body.verificationCode } : {},
      ),
  );
  app.post<{ Params: typeof ProvisioningOperationParams.static; Body: typeof ProvisioningReject.static }>(
    '/v1/provisioning/operations/:operationId/reject',
    {
      config: tenant,
      schema: {
        ...api('rejectOperation', 'tenant'),
        tags,
        summary: 'Reject a pending operation',
      },
    },
    async (request) => p.reject(tenantCaller(request), request.params.operationId, request.body.reason),
  );
  app.post<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/registration-tokens/revoke',
    {
      config: tenant,
      schema: {
        ...api('revokeRegistrationTokens', 'tenant'),
        tags,
        summary: 'Refuse every registration token of the device and drop its sessions',
      },
    },
    async (request, reply) => {
      await p.revokeRegistrationTokens(tenantCaller(request), request.params.deviceId);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: typeof FactoryBatch.static }>(
    '/v1/provisioning/batches',
    {
      config: { ...tenant, ownTransactions: true },
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        ...api('provisionBatch', 'tenant'),
        tags,
        summary:
          'Factory bulk provisioning: per-unit provisioning tokens, or certificates from CSRs, and a manifest (JSON, or CSV with Accept: text/csv)',
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
  app.post<{ Body: typeof ProvisioningStartSchema.static }>(
    '/v1/device/provisioning/operations',
    {
      config: device,
      schema: {
        ...api('startProvisioning', 'provisioning'),
        tags: deviceTags,
        summary: 'Start (or restart) provisioning with a provisioning token',
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
  app.get<{
    Params: typeof ProvisioningOperationParams.static;
    Querystring: typeof ProvisioningPollQuery.static;
  }>(
    '/v1/device/provisioning/operations/:operationId',
    {
      config: device,
      schema: {
        ...api('pollProvisioning', 'provisioning'),
        tags: deviceTags,
        summary: 'Poll an operation; with ?wait=N waits up to N s for a decision',
      },
    },
    async (request) =>
      p.poll(pt(request.provisioningToken), request.params.operationId, (request.query.wait ?? 0) * 1000),
  );
  app.post<{ Body: typeof RegistrationTokenRefresh.static }>(
    '/v1/device/provisioning/refresh',
    {
      config: device,
      schema: {
        ...api('refreshRegistrationToken', 'provisioning'),
        tags: deviceTags,
        summary: 'Exchange the current registration token for a new one',
      },
    },
    async (request) => p.refresh(pt(request.provisioningToken), request.body.registrationToken),
  );
  app.post(
    '/v1/platform/signing-keys/rotate',
    {
      config: { auth: 'platform-admin' },
      schema: {
        ...api('rotateSigningKey', 'platform-admin'),
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
        ...api('getJwks', 'none'),
        tags: deviceTags,
        summary: 'Public keys that sign registration tokens (JWK Set)',
        security: [],
      },
    },
    async () => p.jwks(),
  );
};
