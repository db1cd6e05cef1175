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

const Pem = (what: string) => Type.String({ minLength: 1, maxLength: 65536, description: what });
const CaRegister = Type.Object(
  {
    caCertificate: Pem("the manufacturer CA's certificate (PEM)"),
    verificationCertificate: Pem(
      'a certificate signed by that CA whose common name is a registration code (PEM)',
    ),
    crl: Pem("the CA's CRL (PEM); may list nothing"),
    registrationPolicy: Type.Union([Type.Literal('auto'), Type.Literal('pending')], {
      description:
        'auto: new devices are enabled at once; pending: registered disabled until an operator enables them',
    }),
    deviceTags: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:=-]+$' }), {
        maxItems: 32,
      }),
    ),
  },
  { additionalProperties: false },
);
const CrlBody = Type.Object({ crl: Pem("the CA's CRL (PEM)") }, { additionalProperties: false });

export const pkiRoutes: RoutePlugin = (app, { services }) => {
  const tenant = { auth: 'tenant' as const };
  const tags = ['pki'];
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/certificates',
    { config: tenant, schema: { tags, summary: "A device's certificates", params: DeviceParams } },
    async (request) => ({
      items: await services.pki.listForDevice(tenantCaller(request), request.params.deviceId),
    }),
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
  app.post<{ Params: typeof SerialParams.static }>(
    '/v1/certificates/:serial/approve',
    {
      config: tenant,
      schema: {
        tags,
        summary:
          'Approve a pending certificate: a new one a pending-policy manufacturer CA presented for a known serial',
        params: SerialParams,
      },
    },
    async (request) => services.pki.approve(tenantCaller(request), request.params.serial),
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
  app.post(
    '/v1/pki/registration-codes',
    {
      config: tenant,
      schema: { tags, summary: 'A one-time code for registering a manufacturer CA (valid one hour)' },
    },
    async (request, reply) =>
      reply.code(201).send(await services.pki.createRegistrationCode(tenantCaller(request))),
  );
  app.post<{ Body: typeof CaRegister.static }>(
    '/v1/pki/cas',
    {
      config: tenant,
      schema: { tags, summary: 'Register a manufacturer CA with proof of possession', body: CaRegister },
    },
    async (request, reply) => {
      const b = request.body;
      return reply.code(201).send(
        await services.pki.registerExternalCa(tenantCaller(request), {
          caCertificate: b.caCertificate,
          verificationCertificate: b.verificationCertificate,
          crl: b.crl,
          registrationPolicy: b.registrationPolicy,
          ...(b.deviceTags ? { deviceTags: b.deviceTags } : {}),
        }),
      );
    },
  );
  app.get(
    '/v1/pki/cas',
    { config: tenant, schema: { tags, summary: "The tenant's CAs (its issuing CA and manufacturer CAs)" } },
    async (request) => ({
      items: await services.pki.listCas(tenantCaller(request)),
    }),
  );
  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    app.post<{ Params: typeof CaParams.static }>(
      `/v1/pki/cas/:caId/${action}`,
      {
        config: tenant,
        schema: {
          tags,
          summary: `${action === 'disable' ? 'Disable (refuses all of its devices at once)' : 'Enable'} a manufacturer CA`,
          params: CaParams,
        },
      },
      async (request) => services.pki.setCaStatus(tenantCaller(request), request.params.caId, status),
    );
  }
  app.put<{ Params: typeof CaParams.static; Body: typeof CrlBody.static }>(
    '/v1/pki/cas/:caId/crl',
    {
      config: tenant,
      schema: { tags, summary: "Replace a manufacturer CA's CRL", params: CaParams, body: CrlBody },
    },
    async (request, reply) => {
      await services.pki.updateExternalCrl(tenantCaller(request), request.params.caId, request.body.crl);
      return reply.code(204).send();
    },
  );
};
