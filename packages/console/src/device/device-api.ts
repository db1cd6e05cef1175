/**
 * The REST calls of the device page's credentials, alerts and audit parts, typed by the API's own
 * schemas like the rest of `api.ts`, and kept beside the parts that make them.
 */
import { call, id, query, type Answer, type Body, type Query } from '../shared/api.js';

export type Certificate = Answer<'listDeviceCertificates'>['items'][number];
export type AccessKey = Answer<'listAccessKeys'>['items'][number];
export type NewAccessKey = Answer<'createAccessKey'>;

const device = (deviceId: string) => `/v1/devices/${id(deviceId)}`;

export const deviceApi = {
  listCertificates: (deviceId: string) =>
    call<Answer<'listDeviceCertificates'>>('GET', `${device(deviceId)}/certificates`),
  revokeCertificate: (serial: string, reason: string) =>
    call<undefined>('POST', `/v1/certificates/${id(serial)}/revoke`, {
      reason,
    } satisfies Body<'revokeCertificate'>),
  listAccessKeys: (deviceId: string) =>
    call<Answer<'listAccessKeys'>>('GET', `${device(deviceId)}/access-keys`),
  createAccessKey: (deviceId: string) => call<NewAccessKey>('POST', `${device(deviceId)}/access-keys`),
  revokeAccessKey: (deviceId: string, keyId: string) =>
    call<undefined>('DELETE', `${device(deviceId)}/access-keys/${id(keyId)}`),
  revokeRegistrationTokens: (deviceId: string) =>
    call<Answer<'revokeRegistrationTokens'>>('POST', `${device(deviceId)}/registration-tokens/revoke`),
  listAudit: (q: Query<'listAudit'>) => call<Answer<'listAudit'>>('GET', `/v1/audit${query(q)}`),
};
