/** Device certificates: list and revoke (tenant), CRLs (public), renewal (device). */
import { Type } from '@sinclair/typebox';
import { deviceOf, tenantCaller, type RoutePlugin } from '../context.js';

const DeviceParams = Type.Object({ deviceId: Type.String({ maxLength: 64 }) });
const SerialParams = Type.Object({ serial: Type.String({ pattern: '^[0-9A-Fa-f]{1,64}$' }) });
const CaParams = Type.Object({ caId: Type.String({ maxLength: 64 }) });
const Revoke = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 256 })) },
  { additionalProperties: false },
);
const Renew = Type.Object(
  { csr: Type.String({ minLength: 1, maxLength: 16384, description: 'PKCS#10 CSR (PEM) from a new key' }) },
  { additionalProperties: false },
);

export const pkiRoutes: RoutePlugin = (app, { services }) => {
  const tenant = { auth: 'tenant' as const };
  const tags = ['pki'];
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/certificates',
    { config: tenant, schema: { tags, summary: "A device's certificates", params: DeviceParams } },
    async (request) => {
      const caller = tenantCaller(request);
      await services.devices.get(caller, request.params.deviceId);
      return { items: await services.pki.listForDevice(caller, request.params.deviceId) };
    },
  );
  app.post<{ Params: typeof SerialParams.static; Body: typeof Revoke.static }>(
    '/v1/certificates/:serial/revoke',
    {
      config: tenant,
      schema: {
        tags,
        summary: 'Revoke a device certificate (refused at the next handshake, sessions dropped)',
        params: SerialParams,
        body: Revoke,
      },
    },
    async (request, reply) => {
      await services.pki.revoke(tenantCaller(request), request.params.serial, request.body.reason);
      return reply.code(204).send();
    },
  );
  app.get<{ Params: typeof CaParams.static }>(
    '/v1/pki/crl/:caId',
    {
      config: { auth: 'none' },
      schema: { tags, summary: 'The CRL of an issuing CA (PEM)', params: CaParams, security: [] },
    },
    async (request, reply) =>
      reply.type('application/x-pem-file').send(await services.pki.crl(request.params.caId)),
  );
  app.post<{ Body: typeof Renew.static }>(
    '/v1/device/certificates',
    {
      config: { auth: 'device' },
      schema: { tags: ['device-api'], summary: 'Renew: a new certificate from a new CSR', body: Renew },
    },
    async (request, reply) =>
      reply.code(201).send(await services.pki.renew(deviceOf(request), request.body.csr)),
  );
};
