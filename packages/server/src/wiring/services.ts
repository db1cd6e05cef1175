/**
 * The domain services, built over the store: each gets its store (and a transaction bound to it), the
 * notifier, the outbox and the services it calls. `services` are what the adapters get: every
 * service wrapped by the access guard (services call each other unguarded; the outer call was
 * checked). `domains` are the same services unguarded, for the workers and the adapters' own hooks.
 */
import type { Config } from '../config.js';
import { limitStore } from '../domains/limits/store.js';
import { createOverrideCache, storeResolver } from '../domains/limits/resolver.js';
import { createLimitService } from '../domains/limits/service.js';
import { createLimitEventLog } from '../domains/limits/event-log.js';
import { createLimitGate } from '../domains/limits/gate.js';
import { createCommandService } from '../domains/commands/service.js';
import { commandStore } from '../domains/commands/store.js';
import { createDeviceService } from '../domains/devices/service.js';
import { deviceStore } from '../domains/devices/store.js';
import { createDeviceBulkJobService } from '../domains/devices/bulk-jobs.js';
import { bulkJobStore } from '../domains/devices/bulk-jobs-store.js';
import { createFleetService } from '../domains/fleet/service.js';
import { fleetStore } from '../domains/fleet/store.js';
import { createFleetProblemService } from '../domains/fleet/problems-service.js';
import { problemStore } from '../domains/fleet/problems-store.js';
import { createRefusalLog } from '../domains/fleet/refusal-log.js';
import { createPresenceService } from '../domains/presence/service.js';
import { presenceStore } from '../domains/presence/store.js';
import { createBatchWriter } from '../domains/telemetry/batch-writer.js';
import { createTelemetryService } from '../domains/telemetry/service.js';
import { telemetryStore } from '../domains/telemetry/store.js';
import { tenancyStore } from '../domains/tenancy/store.js';
import { createTenancyService } from '../domains/tenancy/service.js';
import type { TlsMaterial } from '../domains/pki/platform-ca.js';
import { createProvisioningService } from '../domains/provisioning/service.js';
import { provisioningStore } from '../domains/provisioning/store.js';
import { createPkiService } from '../domains/pki/service.js';
import { pkiStore } from '../domains/pki/store.js';
import { createOwnershipService } from '../domains/ownership/service.js';
import { ownershipStore } from '../domains/ownership/store.js';
import { createFactoryService } from '../domains/provisioning/factory.js';
import { factoryStore } from '../domains/provisioning/factory-store.js';
import { createAuditService } from '../domains/audit/service.js';
import { auditStore } from '../domains/audit/store.js';
import { createAuditWriter } from '../domains/audit/writer.js';
import { createRoleService } from '../domains/access/service.js';
import { roleStore } from '../domains/access/store.js';
import { guard } from '../domains/access/guard.js';
import {
  API_KEY_RULES,
  AUDIT_RULES,
  COMMAND_RULES,
  DEVICE_BULK_JOB_RULES,
  DEVICE_RULES,
  FLEET_RULES,
  FLEET_PROBLEM_RULES,
  LIMIT_RULES,
  FACTORY_RULES,
  OWNERSHIP_RULES,
  PKI_RULES,
  PRESENCE_RULES,
  PROVISIONING_RULES,
  ROLE_RULES,
  TELEMETRY_RULES,
  TENANCY_RULES,
  USER_RULES,
} from '../domains/access/rules.js';
import { createArtifactService } from '../domains/artifacts/service.js';
import { artifactStore } from '../domains/artifacts/store.js';
import { chunkStorage } from '../domains/artifacts/chunk-storage.js';
import {
  ALERT_RULES,
  ARTIFACT_RULES,
  BRIDGE_RULES,
  CONFIG_RULES,
  WEBHOOK_RULES,
  DEPLOYMENT_RULES,
  OTA_DEVICE_RULES,
} from '../domains/access/rules.js';
import { createDeploymentServices } from '../domains/deployments/service.js';
import { deploymentStore } from '../domains/deployments/store.js';
import { createOrchestrator } from '../domains/deployments/orchestrator.js';
import { createConfigService } from '../domains/config/service.js';
import { createWebhookService } from '../domains/webhooks/service.js';
import { webhookStore } from '../domains/webhooks/store.js';
import { createDeliveryWorker } from '../domains/webhooks/delivery.js';
import { registerEventFanOut, type EventSink } from '../domains/webhooks/fanout.js';
import { createInterest, WEBHOOK_INTEREST } from '../domains/webhooks/interest.js';
import { createTelemetryForwarder, forwardInCommit } from '../domains/webhooks/forwarding.js';
import { configStore } from '../domains/config/store.js';
import { createSchemaChecker } from '../domains/config/schemas.js';
import { parseDesiredPatch } from '../domains/config/merge.js';
import { createBridgeService } from '../domains/bridges/service.js';
import { BRIDGE_INTEREST, bridgeStore } from '../domains/bridges/store.js';
import { createBridgeSupervisor } from '../domains/bridges/supervisor.js';
import { createAddressPolicy } from '../platform/outbound/address-policy.js';
import { createAlertService } from '../domains/alerts/service.js';
import { alertStore } from '../domains/alerts/store.js';
import { alertEffects } from '../domains/alerts/effects.js';
import { createAlertEvaluator } from '../domains/alerts/evaluator.js';
import { createUserService } from '../domains/users/service.js';
import type { User } from '../domains/users/users.js';
import { userStore } from '../domains/users/store.js';
import { createApiKeyService } from '../domains/api-keys/service.js';
import { apiKeyStore } from '../domains/api-keys/store.js';
import { API_KEY_PREFIX } from '../domains/api-keys/api-keys.js';
import { loadTimeSigner } from '../domains/time/signer.js';
import { createRegistrationTokens, looksLikeJwt } from '../domains/provisioning/registration-tokens.js';
import type { Services } from '../adapters/http/context.js';
import type { BridgeSpool } from '../domains/bridges/bridges.js';
import type { Notifier } from '../platform/notifier.js';
import type { Outbox } from '../platform/outbox.js';
import type { Cursors } from '../platform/pagination.js';
import type { SecretBox } from '../platform/secret-box.js';
import type { TenantCaller } from '../platform/caller.js';
import type { Logger, Metrics } from '../platform/observability.js';
import { createMemoryLimiter } from '../platform/limits/memory.js';
import { transactionOf, type Db, type Queryable } from '../store/db.js';

export interface ServiceDeps {
  config: Config;
  db: Db;
  bus: Notifier;
  outbox: Outbox;
  cursors: Cursors;
  box: SecretBox;
  tls: TlsMaterial;
  metrics: Metrics;
  logger: Logger;
  /** The OTA orchestrator should make a pass soon (a deployment changed). */
  nudgeOrchestrator(): void;
  /** The webhook delivery worker should run soon (deliveries or a verification are due). */
  nudgeWebhooks(): void;
  /** The bulk-job worker should run soon (a bulk job was queued). */
  nudgeBulkJobs(): void;
  /** A platform administrator changed the one-time bootstrap password. */
  onBootstrapPasswordSpent(): void;
}

export async function createServices(deps: ServiceDeps) {
  const { config, db, bus, outbox, cursors, box, tls, metrics, logger } = deps;
  // One limiter for the node: the configured defaults, and the tenants' and devices' overrides.
  const limitRecords = limitStore(db);
  const overrideCache = createOverrideCache({ read: (tenantId) => limitRecords.overrides(tenantId) });
  const limits = createMemoryLimiter(
    storeResolver({
      defaults: config.limits,
      cache: overrideCache,
      onError: (err) => logger.warn({ err }, 'limit overrides not read; the defaults apply'),
    }),
  );
  const limitSettings = createLimitService({
    store: limitRecords,
    cache: overrideCache,
    defaults: config.limits,
    cursors,
  });
  const limitEventLog = createLimitEventLog({
    store: limitRecords,
    onError: (err, dropped) => logger.warn({ err, dropped }, 'limit events not stored'),
  });
  const limitGate = createLimitGate(limits, limitEventLog);
  const tenancy = createTenancyService({ store: tenancyStore(db) });
  const roles = createRoleService({ store: roleStore(db), transaction: transactionOf(db, roleStore) });
  const devices = createDeviceService({
    store: deviceStore(db),
    transaction: transactionOf(db, deviceStore),
    bus,
    outbox,
    cursors,
  });
  const fleet = createFleetService({ store: fleetStore(db) });
  const fleetProblems = createFleetProblemService({ store: problemStore(db), cursors });
  const refusalLog = createRefusalLog({
    store: problemStore(db),
    onError: (err, dropped) => logger.warn({ err, dropped }, 'refusals not stored'),
  });
  const requireDevice = (caller: TenantCaller, deviceId: string) => devices.get(caller, deviceId);
  // Other domains create and read device rows through the devices contract, in their transaction.
  const deviceRecordsOn = (tx?: Queryable) => deviceStore(tx ?? db);
  // Which tenants forward telemetry and device events: read by the group commit (no cost for others).
  const interest = createInterest({
    db,
    sources: [WEBHOOK_INTEREST, BRIDGE_INTEREST],
    onError: (err) => logger.warn({ err }, 'reading the integrations that forward telemetry failed'),
  });
  const forwarding = forwardInCommit({ interest, outbox });
  const writer = createBatchWriter(db, config.telemetryBatchMaxRows, {
    onCommit: (_messages, rows, ms) => {
      metrics.batchRows.observe(rows);
      metrics.commitSeconds.observe(ms / 1000);
      if (forwarding.takeWroteEvents()) outbox.wake('device.event');
    },
    inCommit: forwarding.inCommit,
  });
  const telemetry = createTelemetryService({ store: telemetryStore(db), writer, cursors, requireDevice });
  const commands = createCommandService({
    store: commandStore(db),
    transaction: transactionOf(db, commandStore),
    outbox,
    bus,
    cursors,
    defaultTtlSeconds: config.commandDefaultTtlSeconds,
    maxTtlSeconds: config.commandMaxTtlSeconds,
    requireDevice,
    limit: limitGate,
  });
  const presence = createPresenceService({
    store: presenceStore(db),
    transaction: transactionOf(db, presenceStore),
    outbox,
    forwards: (tenantId, type) => interest.wants(tenantId, type),
    nodeId: config.nodeId,
    requireDevice,
  });
  // The audit trail: admin requests are recorded by the HTTP adapter in the request's transaction;
  // lifecycle events the services report join the transaction they happen in, or else go through
  // one batching writer.
  const audit = createAuditService({
    store: auditStore(db),
    transaction: transactionOf(db, auditStore),
    cursors,
  });
  const auditWriter = createAuditWriter(audit, logger);
  const recordAudit = auditWriter.sink;
  const pki = await createPkiService({
    store: pkiStore(db),
    storeOn: pkiStore,
    transaction: transactionOf(db, pkiStore),
    deviceRecords: deviceRecordsOn,
    requireDevice,
    bus,
    box,
    root: { certPem: tls.ca, keyPem: tls.caKeyPem },
    certificateValidityDays: config.certificateValidityDays,
    audit: recordAudit,
  });
  const registrationTokens = await createRegistrationTokens({
    store: provisioningStore(db),
    transaction: transactionOf(db, provisioningStore),
    box,
    ttlSeconds: config.registrationTokenTtlSeconds,
    skewSeconds: config.tokenClockSkewSeconds,
  });
  const provisioning = createProvisioningService({
    store: provisioningStore(db),
    transaction: transactionOf(db, provisioningStore),
    outbox,
    deviceRecords: deviceRecordsOn,
    bus,
    cursors,
    box,
    tokens: registrationTokens,
    pki,
    operationTtlSeconds: config.provisioningOperationTtlSeconds,
    refreshGraceMs: config.registrationTokenTtlSeconds * 1000,
    audit: recordAudit,
    updateKeys: (tenantId) => artifacts.keysForDevice({ tenantId }),
  });
  // A device proves itself with an access key or a registration token (a JWT).
  const authenticateDevice = (secret: string, claimedDeviceId?: string) =>
    looksLikeJwt(secret)
      ? provisioning.authenticate(secret, claimedDeviceId)
      : devices.authenticate(secret, claimedDeviceId);
  // Durable facts and who hands them on. Revoking what is already revoked changes nothing: a fact
  // handed on twice is harmless.
  outbox.handle('device.deleted', async ({ tenantId, deviceId }) => {
    await pki.revokeAllForDevice(tenantId, deviceId, 'device deleted');
  });
  const ownership = createOwnershipService({
    transaction: transactionOf(db, ownershipStore),
    deviceRecords: deviceRecordsOn,
    bus,
    devices,
    pki,
  });
  const factory = createFactoryService({
    store: factoryStore(db),
    transaction: transactionOf(db, factoryStore),
    deviceRecords: deviceRecordsOn,
    box,
    provisioning,
    pki,
    audit: recordAudit,
  });
  const users = createUserService({
    store: userStore(db),
    box,
    roles,
    sessionTtlMs: config.sessionTtlSeconds * 1000,
    requireTenant: (id) => tenancy.require(id),
    record: recordAudit,
    transaction: (fn) => db.transaction(() => fn()),
    limits,
    onOneTimePasswordSpent: (user: User) => {
      if (user.platformAdmin) deps.onBootstrapPasswordSpent();
    },
  });
  const apiKeys = createApiKeyService({
    store: apiKeyStore(db),
    roles,
    requireTenant: (id) => tenancy.require(id),
    onNewAddress: (key, address) =>
      recordAudit({
        tenantId: key.tenantId,
        actor: `api-key:${key.id}`,
        action: 'api-key.used-from-new-address',
        target: key.id,
        outcome: 'success',
        source: address,
        changes: { previousAddress: key.lastUsedAddress },
      }),
  });
  const time = loadTimeSigner(config.dataDir);
  const artifactStorage = chunkStorage(db);
  const artifacts = createArtifactService({
    store: artifactStore(db),
    transaction: transactionOf(db, artifactStore),
    storage: artifactStorage,
    box,
    cursors,
    maxBytes: config.artifactMaxBytes,
    deployedIn: (tenantId, artifactId) => deploymentRecords.runningOf(tenantId, artifactId),
    mayDownload: (device, artifactId) =>
      deploymentRecords.mayDownload(device.tenantId, device.deviceId, artifactId),
  });
  const deploymentRecords = deploymentStore(db);
  const { deployments, ota, effects } = createDeploymentServices({
    store: deploymentRecords,
    transaction: transactionOf(db, deploymentStore),
    outbox,
    bus,
    cursors,
    audit: recordAudit,
    nudge: () => deps.nudgeOrchestrator(),
    artifact: async (caller, artifactId) => {
      const a = await artifacts.get(caller, artifactId);
      return { ...a.manifest, id: a.id, signature: a.signature, keyId: a.keyId };
    },
  });
  const orchestrator = createOrchestrator({
    store: deploymentRecords,
    transaction: transactionOf(db, deploymentStore),
    effects,
  });

  const twin = createConfigService({
    store: configStore(db),
    transaction: transactionOf(db, configStore),
    outbox,
    bus,
    cursors,
    schemas: createSchemaChecker(),
    requireDevice,
    limit: limitGate,
  });

  // Revocations and desired configuration for many devices: jobs worked in chunks (docs/api.md).
  const deviceBulk = createDeviceBulkJobService({
    store: bulkJobStore(db),
    transaction: transactionOf(db, bulkJobStore),
    bus,
    outbox,
    revokeCertificates: (tenantId, ids, reason) => pki.revokeAllForDevices(tenantId, ids, reason),
    parsePatch: parseDesiredPatch,
    setDesiredMany: (tenantId, ids, patch, actor, at) => twin.setDesiredMany(tenantId, ids, patch, actor, at),
    nudge: () => deps.nudgeBulkJobs(),
    audit: recordAudit,
  });

  // MQTT bridges: the spool the event fan-out writes into, and the forwarders this node runs.
  const outboundPolicy = createAddressPolicy({ allowList: config.outboundAllowList });
  const bridges = createBridgeService({
    store: bridgeStore(db),
    storeOn: bridgeStore,
    transaction: transactionOf(db, bridgeStore),
    box,
    policy: outboundPolicy,
    audit: recordAudit,
    changed: () => void interest.refresh().catch(() => undefined),
    spooled: (bridgeId) => bridgeForwarders.wake(bridgeId),
  });
  const bridgeForwarders = createBridgeSupervisor({
    db,
    box,
    policy: outboundPolicy,
    nodeId: config.nodeId,
    logger: logger.child({ component: 'bridges' }),
  });

  const alertFx = alertEffects({ outbox, audit: recordAudit });
  const alerts = createAlertService({
    store: alertStore(db),
    transaction: transactionOf(db, alertStore),
    effects: alertFx,
    cursors,
  });
  const alertEvaluator = createAlertEvaluator({
    store: alertStore(db),
    transaction: transactionOf(db, alertStore),
    effects: alertFx,
  });

  const webhooks = createWebhookService({
    store: webhookStore(db),
    transaction: transactionOf(db, webhookStore),
    box,
    cursors,
    allowList: config.outboundAllowList,
    nudge: () => {
      deps.nudgeWebhooks();
      void interest.refresh().catch(() => undefined);
    },
  });
  const webhookDelivery = createDeliveryWorker({
    store: webhookStore(db),
    nodeId: config.nodeId,
    box,
    allowList: config.outboundAllowList,
    retryScale: config.webhookRetryScale,
    logger: logger.child({ component: 'webhooks' }),
    onVerified: () => void interest.refresh().catch(() => undefined),
    limits,
    limitEvents: limitEventLog,
  });
  // Every platform event is also spooled for the tenant's MQTT bridges, in the fan-out's transaction.
  const bridgeSink = (tx: Queryable): EventSink => ({
    enqueue: async (items) => {
      await bridges.enqueueMany(items, tx);
    },
  });
  registerEventFanOut({
    outbox,
    transaction: transactionOf(db, webhookStore),
    sinks: [bridgeSink],
    nudge: () => deps.nudgeWebhooks(),
  });
  const telemetryForwarder = createTelemetryForwarder({
    transaction: transactionOf(db, webhookStore),
    sinks: [bridgeSink],
    nudge: () => deps.nudgeWebhooks(),
  });

  const deviceRecords = deviceStore(db);
  const access = { deviceTags: (tenantId: string, id: string) => deviceRecords.tags(tenantId, id) };
  const services: Services = {
    tenancy: guard(tenancy, TENANCY_RULES, access),
    users: guard(users, USER_RULES, access),
    apiKeys: guard(apiKeys, API_KEY_RULES, access),
    roles: guard(roles, ROLE_RULES, access),
    devices: guard(devices, DEVICE_RULES, access),
    deviceBulk: guard(deviceBulk, DEVICE_BULK_JOB_RULES, access),
    fleet: guard(fleet, FLEET_RULES, access),
    fleetProblems: guard(fleetProblems, FLEET_PROBLEM_RULES, access),
    telemetry: guard(telemetry, TELEMETRY_RULES, access),
    commands: guard(commands, COMMAND_RULES, access),
    presence: guard(presence, PRESENCE_RULES, access),
    provisioning: guard(provisioning, PROVISIONING_RULES, access),
    pki: guard(pki, PKI_RULES, access),
    ownership: guard(ownership, OWNERSHIP_RULES, access),
    factory: guard(factory, FACTORY_RULES, access),
    audit: guard(audit, AUDIT_RULES, access),
    artifacts: guard(artifacts, ARTIFACT_RULES, access),
    deployments: guard(deployments, DEPLOYMENT_RULES, access),
    ota: guard(ota, OTA_DEVICE_RULES, access),
    config: guard(twin, CONFIG_RULES, access),
    bridges: guard(bridges, BRIDGE_RULES, access),
    webhooks: guard(webhooks, WEBHOOK_RULES, access),
    alerts: guard(alerts, ALERT_RULES, access),
    limitSettings: guard(limitSettings, LIMIT_RULES, access),
    limitEvents: limitEventLog,
    time,
    limits,
    authenticateDevice,
    authenticateBearer: (token: string, source: string | null) =>
      token.startsWith(`${API_KEY_PREFIX}_`)
        ? apiKeys.authenticate(token, source)
        : users.authenticate(token),
  };
  return {
    services,
    domains: {
      users,
      deviceBulk,
      commands,
      presence,
      provisioning,
      pki,
      audit,
      artifactStorage,
      ota,
      orchestrator,
      bridges,
      bridgeForwarders,
      alertEvaluator,
      webhookDelivery,
      telemetryForwarder,
      refusalLog,
      limitEventLog,
    },
    interest,
    /** What the event fan-out calls inside the transaction that handles an event. */
    bridgeSpool: bridges as BridgeSpool,
    writer,
    auditWriter,
    authenticateDevice,
  };
}

export type PlatformServices = Awaited<ReturnType<typeof createServices>>;
