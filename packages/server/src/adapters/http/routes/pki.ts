/** Device certificates: list and revoke (tenant), CRLs (public), renewal (device). */
import type {
  CaCrl,
  CaParams,
  CaRegister,
  CertificateRenew,
  CertificateRevoke,
  CertificateSerialParams,
  DeviceParams,
} from '@mooring/protocol';
import { deviceOf, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';
import { auditAbout } from '../audit-hook.js';

export const pkiRoutes: RoutePlugin = (app, { services }) => {
  const tenant = { auth: 'tenant' as const };
  const tags = ['pki'];
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/certificates',
    {
      config: tenant,
      schema: {
        ...api('listDeviceCertificates', 'tenant'),
        tags,
        summary: "A device's certificates",
      },
    },
    async (request) => ({
      items: await services.pki.listForDevice(tenantCaller(request), request.params.deviceId),
    }),
  );
  app.post<{ Params: typeof CertificateSerialParams.static; Body: typeof CertificateRevoke.static }>(
    '/v1/certificates/:serial/revoke',
    {
      config: tenant,
      schema: {
        ...api('revokeCertificate', 'tenant'),
        tags,
        summary: 'Revoke a device certificate (refused at the next handshake, sessions dropped)',
      },
    },
    async (request, reply) => {
      const { deviceId } = await services.pki.revoke(
        tenantCaller(request),
        request.params.serial,
        request.body.reason,
      );
      auditAbout(request, deviceId);
      return reply.code(204).send();
    },
  );
  app.post<{ Params: typeof CertificateSerialParams.static }>(
    '/v1/certificates/:serial/approve',
    {
      config: tenant,
      schema: {
        ...api('approveCertificate', 'tenant'),
        tags,
        summary:
          'Approve a pending certificate: a new one a pending-policy manufacturer CA presented for a known serial',
      },
    },
    async (request) => {
      const cert = await services.pki.approve(tenantCaller(request), request.params.serial);
      auditAbout(request, cert.deviceId);
      return cert;
    },
  );
  app.get<{ Params: typeof CaParams.static }>(
    '/v1/pki/crl/:caId',
    {
      config: { auth: 'none' },
      schema: {
        ...api('getCrl', 'none'),
        tags,
        summary: 'The CRL of an issuing CA (PEM)',
        security: [],
      },
    },
    async (request, reply) =>
      reply.type('application/x-pem-file').send(await services.pki.crl(request.params.caId)),
  );
  app.post<{ Body: typeof CertificateRenew.static }>(
    '/v1/device/certificates',
    {
      config: { auth: 'device' },
      schema: {
        ...api('renewCertificate', 'device'),
        tags: ['device-api'],
        summary: 'Renew: a new certificate from a new CSR',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.pki.renew(deviceOf(request), request.body.csr)),
  );
  app.post(
    '/v1/pki/registration-codes',
    {
      config: tenant,
      schema: {
        ...api('createRegistrationCode', 'tenant'),
        tags,
        summary: 'A one-time code for registering a manufacturer CA (valid one hour)',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.pki.createRegistrationCode(tenantCaller(request))),
  );
  app.post<{ Body: typeof CaRegister.static }>(
    '/v1/pki/cas',
    {
      config: tenant,
      schema: {
        ...api('registerCa', 'tenant'),
        tags,
        summary: 'Register a manufacturer CA with proof of possession',
      },
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
    {
      config: tenant,
      schema: {
        ...api('listCas', 'tenant'),
        tags,
        summary: "The tenant's CAs (its issuing CA and manufacturer CAs)",
      },
    },
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
          ...api(action === 'disable' ? 'disableCa' : 'enableCa', 'tenant'),
          tags,
          summary: `${action === 'disable' ? 'Disable (refuses all of its devices at once)' : 'Enable'} a manufacturer CA`,
        },
      },
      async (request) => services.pki.setCaStatus(tenantCaller(request), request.params.caId, status),
    );
  }
  app.put<{ Params: typeof CaParams.static; Body: typeof CaCrl.static }>(
    '/v1/pki/cas/:caId/crl',
    {
      config: tenant,
      schema: {
        ...api('updateCaCrl', 'tenant'),
        tags,
        summary: "Replace a manufacturer CA's CRL",
      },
    },
    async (request, reply) => {
      await services.pki.updateExternalCrl(tenantCaller(request), request.params.caId, request.body.crl);
      return reply.code(204).send();
    },
  );
};
