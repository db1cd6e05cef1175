/** Device certificates and certificate authorities. */
import { Type } from '@sinclair/typebox';
import {
  Answer,
  EpochMs,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  media,
  operation,
} from './common.js';
import { DeviceParams } from './devices.js';

export const DeviceCertificate = Answer({
  serial: Type.String(),
  deviceId: Type.String(),
  caId: Type.String(),
  fingerprint: Type.String(),
  notBefore: EpochMs,
  notAfter: EpochMs,
  createdAt: EpochMs,
  revokedAt: NullableEpochMs,
  revocationReason: Nullable(Type.String()),
  pending: Type.Boolean({
    description: 'presented through a pending manufacturer CA: refused until approved',
  }),
});
export const IssuedCertificate = Answer({
  serial: Type.String(),
  certificate: Type.String({ description: 'PEM of the device certificate' }),
  chain: Type.String({ description: 'PEM of the issuing CA then the platform root' }),
  notBefore: EpochMs,
  notAfter: EpochMs,
});
export const CertificateAuthority = Answer({
  id: Type.String(),
  kind: Type.Union([Type.Literal('issuing'), Type.Literal('external')]),
  subject: Type.String(),
  fingerprint: Nullable(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  registrationPolicy: Nullable(Type.Union([Type.Literal('auto'), Type.Literal('pending')])),
  deviceTags: Type.Array(Type.String()),
  createdAt: EpochMs,
});

export const CertificateSerialParams = Type.Object({
  serial: Type.String({ pattern: '^[0-9A-Fa-f]{1,64}$' }),
});
export const CaParams = Type.Object({ caId: IdParam });
export const CertificateRevoke = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 256 })) },
  { additionalProperties: false },
);
export const CertificateRenew = Type.Object(
  { csr: Type.String({ minLength: 1, maxLength: 16384, description: 'PKCS#10 CSR (PEM) from a new key' }) },
  { additionalProperties: false },
);
const Pem = (what: string) => Type.String({ minLength: 1, maxLength: 65536, description: what });
export const CaRegister = Type.Object(
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
export const CaCrl = Type.Object({ crl: Pem("the CA's CRL (PEM)") }, { additionalProperties: false });

export const pkiOperations = {
  listDeviceCertificates: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/certificates',
    params: DeviceParams,
    responses: { 200: ItemsOf(DeviceCertificate) },
  }),
  revokeCertificate: operation({
    method: 'POST',
    path: '/v1/certificates/{serial}/revoke',
    params: CertificateSerialParams,
    body: CertificateRevoke,
    responses: { 204: NoContent },
  }),
  approveCertificate: operation({
    method: 'POST',
    path: '/v1/certificates/{serial}/approve',
    params: CertificateSerialParams,
    responses: { 200: DeviceCertificate },
  }),
  getCrl: operation({
    method: 'GET',
    path: '/v1/pki/crl/{caId}',
    params: CaParams,
    responses: { 200: media('the CRL (PEM)', { 'application/x-pem-file': Type.String() }) },
  }),
  createRegistrationCode: operation({
    method: 'POST',
    path: '/v1/pki/registration-codes',
    responses: { 201: Answer({ registrationCode: Type.String(), expiresAt: EpochMs }) },
  }),
  registerCa: operation({
    method: 'POST',
    path: '/v1/pki/cas',
    body: CaRegister,
    responses: { 201: CertificateAuthority },
  }),
  listCas: operation({
    method: 'GET',
    path: '/v1/pki/cas',
    responses: { 200: ItemsOf(CertificateAuthority) },
  }),
  disableCa: operation({
    method: 'POST',
    path: '/v1/pki/cas/{caId}/disable',
    params: CaParams,
    responses: { 200: CertificateAuthority },
  }),
  enableCa: operation({
    method: 'POST',
    path: '/v1/pki/cas/{caId}/enable',
    params: CaParams,
    responses: { 200: CertificateAuthority },
  }),
  updateCaCrl: operation({
    method: 'PUT',
    path: '/v1/pki/cas/{caId}/crl',
    params: CaParams,
    body: CaCrl,
    responses: { 204: NoContent },
  }),
};
