/**
 * The named operations of the REST API a person or program calls (the device routes belong to the
 * device SDK). The CLI is built on these names; a test checks every one against the server's OpenAPI
 * document, and that every management route of the document has a name here.
 */
export const OPERATIONS = {
  login: ['POST', '/v1/auth/login'],
  logout: ['POST', '/v1/auth/logout'],
  acceptInvitation: ['POST', '/v1/auth/invitations/accept'],
  resetPassword: ['POST', '/v1/auth/password-reset'],
  me: ['GET', '/v1/auth/me'],
  changePassword: ['POST', '/v1/auth/password'],
  listMySessions: ['GET', '/v1/auth/sessions'],
  endMySession: ['DELETE', '/v1/auth/sessions/{sessionId}'],
  beginTotp: ['POST', '/v1/auth/totp'],
  confirmTotp: ['POST', '/v1/auth/totp/confirm'],
  disableTotp: ['POST', '/v1/auth/totp/disable'],

  createTenant: ['POST', '/v1/tenants'],
  listTenants: ['GET', '/v1/tenants'],
  getTenant: ['GET', '/v1/tenants/{tenantId}'],
  createTenantUser: ['POST', '/v1/tenants/{tenantId}/users'],
  createTenantApiKey: ['POST', '/v1/tenants/{tenantId}/api-keys'],
  rotateSigningKey: ['POST', '/v1/platform/signing-keys/rotate'],
  listPlatformAudit: ['GET', '/v1/platform/audit'],
  exportPlatformAudit: ['GET', '/v1/platform/audit/export'],
  verifyPlatformAudit: ['GET', '/v1/platform/audit/verify'],

  getCurrentTenant: ['GET', '/v1/tenant'],
  updateTenantSettings: ['PATCH', '/v1/tenant'],
  listUsers: ['GET', '/v1/users'],
  getUser: ['GET', '/v1/users/{userId}'],
  updateUser: ['PATCH', '/v1/users/{userId}'],
  deleteUser: ['DELETE', '/v1/users/{userId}'],
  issuePasswordReset: ['POST', '/v1/users/{userId}/password-reset'],
  listUserSessions: ['GET', '/v1/users/{userId}/sessions'],
  endUserSessions: ['DELETE', '/v1/users/{userId}/sessions'],
  endUserSession: ['DELETE', '/v1/users/{userId}/sessions/{sessionId}'],
  resetUserTotp: ['DELETE', '/v1/users/{userId}/totp'],
  unlockUser: ['DELETE', '/v1/users/{userId}/lockout'],
  listInvitations: ['GET', '/v1/invitations'],
  createInvitation: ['POST', '/v1/invitations'],
  revokeInvitation: ['DELETE', '/v1/invitations/{invitationId}'],
  listRoles: ['GET', '/v1/roles'],
  createRole: ['POST', '/v1/roles'],
  updateRole: ['PUT', '/v1/roles/{name}'],
  deleteRole: ['DELETE', '/v1/roles/{name}'],

  listApiKeys: ['GET', '/v1/api-keys'],
  createApiKey: ['POST', '/v1/api-keys'],
  getApiKey: ['GET', '/v1/api-keys/{keyId}'],
  revokeApiKey: ['DELETE', '/v1/api-keys/{keyId}'],
  rotateApiKey: ['POST', '/v1/api-keys/{keyId}/rotate'],

  createDevice: ['POST', '/v1/devices'],
  listDevices: ['GET', '/v1/devices'],
  getDevice: ['GET', '/v1/devices/{deviceId}'],
  updateDevice: ['PATCH', '/v1/devices/{deviceId}'],
  deleteDevice: ['DELETE', '/v1/devices/{deviceId}'],
  disableDevice: ['POST', '/v1/devices/{deviceId}/disable'],
  enableDevice: ['POST', '/v1/devices/{deviceId}/enable'],
  createAccessKey: ['POST', '/v1/devices/{deviceId}/access-keys'],
  listAccessKeys: ['GET', '/v1/devices/{deviceId}/access-keys'],
  revokeAccessKey: ['DELETE', '/v1/devices/{deviceId}/access-keys/{keyId}'],
  getPresence: ['GET', '/v1/devices/{deviceId}/presence'],
  getTelemetry: ['GET', '/v1/devices/{deviceId}/telemetry'],
  getLatestTelemetry: ['GET', '/v1/devices/{deviceId}/telemetry/latest'],
  aggregateTelemetry: ['GET', '/v1/devices/{deviceId}/telemetry/aggregate'],
  getEvents: ['GET', '/v1/devices/{deviceId}/events'],
  sendCommand: ['POST', '/v1/devices/{deviceId}/commands'],
  listCommands: ['GET', '/v1/devices/{deviceId}/commands'],
  getCommand: ['GET', '/v1/devices/{deviceId}/commands/{commandId}'],
  revokeRegistrationTokens: ['POST', '/v1/devices/{deviceId}/registration-tokens/revoke'],
  listDeviceCertificates: ['GET', '/v1/devices/{deviceId}/certificates'],
  releaseDevice: ['POST', '/v1/devices/{deviceId}/release'],
  claimDevice: ['POST', '/v1/devices/claim'],

  createProvisioningToken: ['POST', '/v1/provisioning-tokens'],
  listProvisioningTokens: ['GET', '/v1/provisioning-tokens'],
  getProvisioningToken: ['GET', '/v1/provisioning-tokens/{tokenId}'],
  revokeProvisioningToken: ['DELETE', '/v1/provisioning-tokens/{tokenId}'],
  listOperations: ['GET', '/v1/provisioning/operations'],
  getOperation: ['GET', '/v1/provisioning/operations/{operationId}'],
  approveOperation: ['POST', '/v1/provisioning/operations/{operationId}/approve'],
  rejectOperation: ['POST', '/v1/provisioning/operations/{operationId}/reject'],
  provisionBatch: ['POST', '/v1/provisioning/batches'],

  revokeCertificate: ['POST', '/v1/certificates/{serial}/revoke'],
  approveCertificate: ['POST', '/v1/certificates/{serial}/approve'],
  getCrl: ['GET', '/v1/pki/crl/{caId}'],
  createRegistrationCode: ['POST', '/v1/pki/registration-codes'],
  registerCa: ['POST', '/v1/pki/cas'],
  listCas: ['GET', '/v1/pki/cas'],
  disableCa: ['POST', '/v1/pki/cas/{caId}/disable'],
  enableCa: ['POST', '/v1/pki/cas/{caId}/enable'],
  updateCaCrl: ['PUT', '/v1/pki/cas/{caId}/crl'],

  listAudit: ['GET', '/v1/audit'],
  exportAudit: ['GET', '/v1/audit/export'],
  verifyAudit: ['GET', '/v1/audit/verify'],

  getTime: ['GET', '/v1/time'],
  getTimeKey: ['GET', '/v1/time/key'],
  getJwks: ['GET', '/.well-known/jwks.json'],
  health: ['GET', '/healthz'],
  ready: ['GET', '/readyz'],
} as const satisfies Record<string, readonly [string, string]>;

export type OperationName = keyof typeof OPERATIONS;

/** A route's path with its `{params}` filled in (URL-encoded); a missing parameter throws. */
export function pathOf(name: OperationName, params: Record<string, string> = {}): string {
  return OPERATIONS[name][1].replace(/\{(\w+)\}/g, (_m, p: string) => {
    const v = params[p];
    if (v === undefined) throw new Error(`${name}: missing ${p}`);
    return encodeURIComponent(v);
  });
}
