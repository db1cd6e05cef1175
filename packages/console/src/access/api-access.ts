/**
 * The calls of the Access, Audit and account screens, by the API's operation names: the tenant's
 * users, invitations, roles and API keys, its audit trail, and the signed-in user's own sessions and
 * second factor. Typed by the API's schemas like the rest of `api.ts`.
 */
import { call, id, query, type Answer, type Body, type Query } from '../shared/api.js';

export type User = Answer<'getUser'>;
export type Grant = User['grants'][number];
export type Role = Answer<'listRoles'>['items'][number];
export type Permission = Role['permissions'][number];
export type Invitation = Answer<'listInvitations'>['items'][number];
export type ApiKey = Answer<'getApiKey'>;
export type ApiKeyWithSecret = Answer<'createApiKey'>;
export type MySession = Answer<'listMySessions'>['items'][number];
export type AuditPage = Answer<'listAudit'>;
export type AuditRecord = AuditPage['items'][number];
export type AuditQuery = Query<'listAudit'>;
export type AuditVerification = Answer<'verifyAudit'>;
export type TotpEnrolment = Answer<'beginTotp'>;

export const accessApi = {
  listUsers: () => call<Answer<'listUsers'>>('GET', '/v1/users'),
  updateUser: (userId: string, body: Body<'updateUser'>) =>
    call<User>('PATCH', `/v1/users/${id(userId)}`, body),
  issuePasswordReset: (userId: string) =>
    call<Answer<'issuePasswordReset'>>('POST', `/v1/users/${id(userId)}/password-reset`),
  endUserSessions: (userId: string) =>
    call<Answer<'endUserSessions'>>('DELETE', `/v1/users/${id(userId)}/sessions`),
  resetUserTotp: (userId: string) => call<undefined>('DELETE', `/v1/users/${id(userId)}/totp`),
  unlockUser: (userId: string) => call<undefined>('DELETE', `/v1/users/${id(userId)}/lockout`),

  listInvitations: () => call<Answer<'listInvitations'>>('GET', '/v1/invitations'),
  createInvitation: (body: Body<'createInvitation'>) =>
    call<Answer<'createInvitation'>>('POST', '/v1/invitations', body),
  revokeInvitation: (invitationId: string) =>
    call<undefined>('DELETE', `/v1/invitations/${id(invitationId)}`),
  acceptInvitation: (body: Body<'acceptInvitation'>) =>
    call<Answer<'acceptInvitation'>>('POST', '/v1/auth/invitations/accept', body),
  resetPassword: (body: Body<'resetPassword'>) => call<undefined>('POST', '/v1/auth/password-reset', body),

  listRoles: () => call<Answer<'listRoles'>>('GET', '/v1/roles'),
  createRole: (body: Body<'createRole'>) => call<Role>('POST', '/v1/roles', body),
  updateRole: (name: string, body: Body<'updateRole'>) => call<Role>('PUT', `/v1/roles/${id(name)}`, body),
  deleteRole: (name: string) => call<undefined>('DELETE', `/v1/roles/${id(name)}`),

  listApiKeys: () => call<Answer<'listApiKeys'>>('GET', '/v1/api-keys'),
  createApiKey: (body: Body<'createApiKey'>) => call<ApiKeyWithSecret>('POST', '/v1/api-keys', body),
  rotateApiKey: (keyId: string, body: Body<'rotateApiKey'>) =>
    call<ApiKeyWithSecret>('POST', `/v1/api-keys/${id(keyId)}/rotate`, body),
  revokeApiKey: (keyId: string) => call<undefined>('DELETE', `/v1/api-keys/${id(keyId)}`),

  listAudit: (q: AuditQuery) => call<AuditPage>('GET', `/v1/audit${query(q)}`),
  verifyAudit: () => call<AuditVerification>('GET', '/v1/audit/verify'),

  listMySessions: () => call<Answer<'listMySessions'>>('GET', '/v1/auth/sessions'),
  endMySession: (sessionId: string) => call<undefined>('DELETE', `/v1/auth/sessions/${id(sessionId)}`),
  beginTotp: () => call<TotpEnrolment>('POST', '/v1/auth/totp'),
  confirmTotp: (body: Body<'confirmTotp'>) =>
    call<Answer<'confirmTotp'>>('POST', '/v1/auth/totp/confirm', body),
  disableTotp: (body: Body<'disableTotp'>) => call<undefined>('POST', '/v1/auth/totp/disable', body),
};
