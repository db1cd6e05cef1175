/**
 * What every service method needs: the rule tables the composition root wraps the services with.
 * A method with no row does not compile; a row is a permission (with the device the call acts on,
 * where it acts on one), platform administrators only, open (the argument is the credential, or a
 * device confined to itself by its credential), or internal (not callable through the guard).
 */
import type { AuditService } from '../audit/audit.js';
import type { CommandService } from '../commands/commands.js';
import type { DeviceBulkJobService, DeviceService } from '../devices/devices.js';
import type { FleetProblemService, FleetService } from '../fleet/fleet.js';
import type { OwnershipService } from '../ownership/ownership.js';
import type { PkiService } from '../pki/pki.js';
import type { PresenceService } from '../presence/presence.js';
import type { FactoryService, ProvisioningService } from '../provisioning/provisioning.js';
import type { TelemetryService } from '../telemetry/telemetry.js';
import type { TenancyService } from '../tenancy/tenancy.js';
import type { UserService } from '../users/users.js';
import type { ApiKeyService } from '../api-keys/api-keys.js';
import type { RoleService } from './access.js';
import type { ArtifactService } from '../artifacts/artifacts.js';
import type { DeploymentService, OtaDeviceService } from '../deployments/deployments.js';
import type { ConfigService } from '../config/config.js';
import type { BridgeService } from '../bridges/bridges.js';
import type { WebhookService } from '../webhooks/webhooks.js';
import type { AlertService } from '../alerts/alerts.js';
import type { LimitService } from '../limits/limits.js';
import type { Rules } from './guard.js';

const CREDENTIAL = 'the argument is the credential being checked';
const DEVICE_SELF = 'a device acting on itself, identified by its own credential';
const SELF = "the session's own user, identified by its login";
const HOUSEKEEPING = 'housekeeping and other services';
const byDevice = { device: (_c: unknown, deviceId: string) => deviceId };

export const DEVICE_RULES: Rules<DeviceService> = {
  create: { permission: 'devices:write', tags: (_c, input) => input.tags ?? [] },
  list: { permission: 'devices:read', list: true },
  get: { permission: 'devices:read', ...byDevice },
  update: { permission: 'devices:write', ...byDevice, tags: (_c, _id, patch) => patch.tags },
  delete: { permission: 'devices:delete', ...byDevice },
  // A bulk operation acts on the tenant's fleet by a filter: tenant-wide grants only.
  bulk: { permission: 'devices:write' },
  createAccessKey: { permission: 'devices:credentials', ...byDevice },
  listAccessKeys: { permission: 'devices:credentials', ...byDevice },
  revokeAccessKey: { permission: 'devices:credentials', ...byDevice },
  authenticate: { open: CREDENTIAL },
};

// Bulk jobs act on the tenant's fleet by a filter: tenant-wide grants only, each action with the
// permissions of its single-device paths (a certificate's revocation needs certificates:manage, an
// access key's or the registration tokens' devices:credentials; the desired configuration
// config:write). The filter's count is what the caller could see, so a dry run needs the same.
export const DEVICE_BULK_JOB_RULES: Rules<DeviceBulkJobService> = {
  revoke: { permission: 'certificates:manage', also: ['devices:credentials'] },
  setDesiredConfig: { permission: 'config:write' },
  get: { permission: 'devices:read' },
  work: { internal: HOUSEKEEPING },
};

export const FLEET_RULES: Rules<FleetService> = {
  report: { open: DEVICE_SELF },
  versions: { permission: 'devices:read', list: true },
  policy: { permission: 'devices:read' },
  setPolicy: { permission: 'devices:write' },
};

// A scoped caller sees its own devices' problems (and no provisioning request, which has no device).
export const FLEET_PROBLEM_RULES: Rules<FleetProblemService> = {
  list: { permission: 'devices:read', list: true },
  counts: { permission: 'devices:read', list: true },
};

// Overrides are tenant settings (tenant:manage, like the audit retention), a device's included: a
// tenant's operator tightens its own limits. Limit events: what a device reader may see of the fleet;
// a scoped caller sees its own devices' events only.
export const LIMIT_RULES: Rules<LimitService> = {
  tenantLimits: { permission: 'tenant:read' },
  setTenantLimits: { permission: 'tenant:manage' },
  deviceLimits: { permission: 'devices:read', ...byDevice },
  setDeviceLimits: { permission: 'tenant:manage', ...byDevice },
  events: { permission: 'devices:read', list: true },
};

export const COMMAND_RULES: Rules<CommandService> = {
  create: { permission: 'devices:command', ...byDevice },
  list: { permission: 'devices:read', ...byDevice },
  get: { permission: 'devices:read', ...byDevice },
  fetchForDevice: { open: DEVICE_SELF },
  openForDevice: { open: DEVICE_SELF },
  markDelivered: { open: DEVICE_SELF },
  reportResult: { open: DEVICE_SELF },
  expireDue: { internal: HOUSEKEEPING },
};

export const TELEMETRY_RULES: Rules<TelemetryService> = {
  ingest: { open: DEVICE_SELF },
  ingestEvent: { open: DEVICE_SELF },
  range: { permission: 'telemetry:read', ...byDevice },
  latest: { permission: 'telemetry:read', ...byDevice },
  aggregate: { permission: 'telemetry:read', ...byDevice },
  events: { permission: 'telemetry:read', ...byDevice },
};

export const PRESENCE_RULES: Rules<PresenceService> = {
  connected: { open: DEVICE_SELF },
  disconnected: { open: DEVICE_SELF },
  resetNode: { internal: HOUSEKEEPING },
  history: { permission: 'devices:read', ...byDevice },
};

export const PROVISIONING_RULES: Rules<ProvisioningService> = {
  createToken: { permission: 'provisioning:manage' },
  listTokens: { permission: 'provisioning:read' },
  getToken: { permission: 'provisioning:read' },
  revokeToken: { permission: 'provisioning:manage' },
  authenticateToken: { open: CREDENTIAL },
  start: { open: CREDENTIAL },
  poll: { open: CREDENTIAL },
  refresh: { open: CREDENTIAL },
  listOperations: { permission: 'provisioning:read' },
  getOperation: { permission: 'provisioning:read' },
  approve: { permission: 'provisioning:approve' },
  reject: { permission: 'provisioning:approve' },
  revokeRegistrationTokens: { permission: 'devices:credentials', ...byDevice },
  authenticate: { open: CREDENTIAL },
  jwks: { open: 'public keys' },
  rotateSigningKey: { platformOnly: true },
  expireDue: { internal: HOUSEKEEPING },
  endLongPolls: { internal: HOUSEKEEPING },
};

export const PKI_RULES: Rules<PkiService> = {
  checkCsr: { internal: HOUSEKEEPING },
  prepareTenant: { internal: HOUSEKEEPING },
  onTrustChanged: { internal: HOUSEKEEPING },
  sign: { internal: HOUSEKEEPING },
  issue: { internal: HOUSEKEEPING },
  renew: { open: DEVICE_SELF },
  listForDevice: { permission: 'certificates:read', ...byDevice },
  revoke: { permission: 'certificates:manage' },
  approve: { permission: 'certificates:manage' },
  createRegistrationCode: { permission: 'certificates:manage' },
  registerExternalCa: { permission: 'certificates:manage' },
  listCas: { permission: 'certificates:read' },
  setCaStatus: { permission: 'certificates:manage' },
  updateExternalCrl: { permission: 'certificates:manage' },
  revokeAllForDevice: { internal: HOUSEKEEPING },
  revokeAllForDevices: { internal: HOUSEKEEPING },
  crl: { open: 'a public certificate revocation list' },
  refreshTrust: { internal: HOUSEKEEPING },
  trust: { internal: HOUSEKEEPING },
  authenticate: { open: CREDENTIAL },
};

export const OWNERSHIP_RULES: Rules<OwnershipService> = {
  release: { permission: 'ownership:transfer', ...byDevice },
  claim: { permission: 'ownership:transfer' },
};

export const FACTORY_RULES: Rules<FactoryService> = {
  provisionBatch: { permission: 'factory:provision' },
};

export const AUDIT_RULES: Rules<AuditService> = {
  record: { internal: 'written by the adapters and services, never by a caller' },
  recordMany: { internal: 'written by the adapters and services, never by a caller' },
  list: { permission: 'audit:read' },
  verify: { permission: 'audit:read' },
  listPlatform: { platformOnly: true },
  verifyPlatform: { platformOnly: true },
  applyRetention: { internal: HOUSEKEEPING },
};

export const TENANCY_RULES: Rules<TenancyService> = {
  createTenant: { platformOnly: true },
  listTenants: { platformOnly: true },
  getTenant: { platformOnly: true },
  current: { permission: 'tenant:read' },
  updateSettings: { permission: 'tenant:manage' },
  require: { internal: HOUSEKEEPING },
};

export const USER_RULES: Rules<UserService> = {
  createUser: { permission: 'users:manage', platform: true },
  list: { permission: 'users:read' },
  get: { permission: 'users:read' },
  update: { permission: 'users:manage' },
  delete: { permission: 'users:manage' },
  invite: { permission: 'users:manage' },
  listInvitations: { permission: 'users:read' },
  revokeInvitation: { permission: 'users:manage' },
  issuePasswordReset: { permission: 'users:manage' },
  listSessions: { permission: 'users:read' },
  revokeSessions: { permission: 'users:manage' },
  resetTotp: { permission: 'users:manage' },
  unlock: { permission: 'users:manage' },
  acceptInvitation: { open: CREDENTIAL },
  resetPassword: { open: CREDENTIAL },
  login: { open: CREDENTIAL },
  logout: { open: CREDENTIAL },
  authenticate: { open: CREDENTIAL },
  me: { open: SELF },
  changePassword: { open: SELF },
  mySessions: { open: SELF },
  revokeMySession: { open: SELF },
  beginTotp: { open: SELF },
  confirmTotp: { open: SELF },
  disableTotp: { open: SELF },
  ensureBootstrapAdmin: { internal: HOUSEKEEPING },
  reconcileBootstrapCredential: { internal: HOUSEKEEPING },
};

export const API_KEY_RULES: Rules<ApiKeyService> = {
  create: { permission: 'keys:manage', platform: true },
  list: { permission: 'keys:read' },
  get: { permission: 'keys:read' },
  rotate: { permission: 'keys:manage' },
  revoke: { permission: 'keys:manage' },
  authenticate: { open: CREDENTIAL },
};

export const ROLE_RULES: Rules<RoleService> = {
  list: { permission: 'users:read' },
  create: { permission: 'roles:manage' },
  update: { permission: 'roles:manage' },
  delete: { permission: 'roles:manage' },
  customPermissions: { internal: HOUSEKEEPING },
};

export const ARTIFACT_RULES: Rules<ArtifactService> = {
  upload: { permission: 'firmware:manage' },
  list: { permission: 'firmware:read' },
  get: { permission: 'firmware:read' },
  delete: { permission: 'firmware:manage' },
  listKeys: { permission: 'firmware:read' },
  addKey: { permission: 'firmware:manage' },
  rotateKey: { permission: 'firmware:manage' },
  revokeKey: { permission: 'firmware:manage' },
  keysForDevice: { open: DEVICE_SELF },
  openForDevice: { open: DEVICE_SELF },
};

export const DEPLOYMENT_RULES: Rules<DeploymentService> = {
  // firmware:* is granted tenant-wide only (not a device permission): a deployment spans the tenant.
  create: { permission: 'firmware:deploy' },
  list: { permission: 'firmware:read' },
  get: { permission: 'firmware:read' },
  devices: { permission: 'firmware:read' },
  pause: { permission: 'firmware:deploy' },
  resume: { permission: 'firmware:deploy' },
  abort: { permission: 'firmware:deploy' },
  stop: { permission: 'firmware:deploy' },
  cancelDevice: { permission: 'firmware:deploy' },
  emergencyStop: { permission: 'firmware:read' },
  setEmergencyStop: { permission: 'firmware:deploy' },
  liftEmergencyStop: { permission: 'firmware:deploy' },
};

export const OTA_DEVICE_RULES: Rules<OtaDeviceService> = {
  messagesFor: { open: DEVICE_SELF },
  report: { open: DEVICE_SELF },
  mayDownload: { open: DEVICE_SELF },
};

export const CONFIG_RULES: Rules<ConfigService> = {
  get: { permission: 'devices:read', ...byDevice },
  setDesired: { permission: 'config:write', ...byDevice },
  setDesiredMany: { internal: HOUSEKEEPING },
  history: { permission: 'devices:read', ...byDevice },
  // A schema applies across the tenant's devices of a tag: config:manage is granted tenant-wide only.
  listSchemas: { permission: 'devices:read' },
  createSchema: { permission: 'config:manage' },
  updateSchema: { permission: 'config:manage' },
  deleteSchema: { permission: 'config:manage' },
  pushFor: { open: DEVICE_SELF },
  pollDesired: { open: DEVICE_SELF },
  report: { open: DEVICE_SELF },
  requestFull: { open: DEVICE_SELF },
};

// Rules apply across the tenant's devices: managing them (and acknowledging or resolving alerts) is
// tenant-wide. An alert is about one device: a caller holding alerts:read over some devices sees only
// theirs, so the single-alert calls are `list` rules too and the service filters by the visibility
// the guard hands it (another device's alert is not found).
export const ALERT_RULES: Rules<AlertService> = {
  listRules: { permission: 'alerts:read' },
  getRule: { permission: 'alerts:read' },
  createRule: { permission: 'alerts:manage' },
  updateRule: { permission: 'alerts:manage' },
  deleteRule: { permission: 'alerts:manage' },
  list: { permission: 'alerts:read', list: true },
  get: { permission: 'alerts:read', list: true },
  acknowledge: { permission: 'alerts:manage', list: true },
  resolve: { permission: 'alerts:manage', list: true },
};

// Integrations span the tenant: integrations:* is granted tenant-wide only.
export const WEBHOOK_RULES: Rules<WebhookService> = {
  create: { permission: 'integrations:manage' },
  list: { permission: 'integrations:read' },
  get: { permission: 'integrations:read' },
  update: { permission: 'integrations:manage' },
  delete: { permission: 'integrations:manage' },
  verify: { permission: 'integrations:manage' },
  rotateSecret: { permission: 'integrations:manage' },
  deliveries: { permission: 'integrations:read' },
  delivery: { permission: 'integrations:read' },
  replay: { permission: 'integrations:manage' },
  replayRange: { permission: 'integrations:manage' },
};

// Integrations reach outside the platform with the tenant's events: tenant-wide grants only.
export const BRIDGE_RULES: Rules<BridgeService> = {
  list: { permission: 'integrations:read' },
  get: { permission: 'integrations:read' },
  create: { permission: 'integrations:manage' },
  update: { permission: 'integrations:manage' },
  delete: { permission: 'integrations:manage' },
};
