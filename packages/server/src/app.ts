/**
 * The composition root: reads as the wiring diagram. Store → services → adapters (HTTPS, MQTT/TLS,
 * MQTT/WSS) → workers. `startPlatform` returns a handle with the bound ports and a graceful `stop`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo, Server } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Config } from './config.js';
import { createBroker, createInsecureDevBroker } from './adapters/broker/broker.js';
import { createHttpServer } from './adapters/http/server.js';
import { expireIdempotencyKeys } from './adapters/http/idempotency.js';
import { createCommandService } from './domains/commands/service.js';
import { commandStore } from './domains/commands/store.js';
import { createDeviceService } from './domains/devices/service.js';
import { createPresenceService } from './domains/presence/service.js';
import { presenceStore } from './domains/presence/store.js';
import { createBatchWriter } from './domains/telemetry/batch-writer.js';
import { createTelemetryService } from './domains/telemetry/service.js';
import { telemetryStore } from './domains/telemetry/store.js';
import { tenancyStore } from './domains/tenancy/store.js';
import { createTenancyService } from './domains/tenancy/service.js';
import { ensureTlsMaterial } from './domains/pki/platform-ca.js';
import { refuseRenegotiation, withTlsPolicy } from './platform/tls/policy.js';
import { createProvisioningService } from './domains/provisioning/service.js';
import { provisioningStore } from './domains/provisioning/store.js';
import { createPkiService } from './domains/pki/service.js';
import { pkiStore } from './domains/pki/store.js';
import { peerCertificateOf } from './platform/tls/peer.js';
import { createOwnershipService } from './domains/ownership/service.js';
import { ownershipStore } from './domains/ownership/store.js';
import { createFactoryService } from './domains/provisioning/factory.js';
import { factoryStore } from './domains/provisioning/factory-store.js';
import { createAuditService } from './domains/audit/service.js';
import { auditStore } from './domains/audit/store.js';
import { createAuditWriter } from './domains/audit/writer.js';
import { createRoleService } from './domains/access/service.js';
import { roleStore } from './domains/access/store.js';
import { guard } from './domains/access/guard.js';
import {
  API_KEY_RULES,
  AUDIT_RULES,
  COMMAND_RULES,
  DEVICE_RULES,
  FACTORY_RULES,
  OWNERSHIP_RULES,
  PKI_RULES,
  PRESENCE_RULES,
  PROVISIONING_RULES,
  ROLE_RULES,
  TELEMETRY_RULES,
  TENANCY_RULES,
  USER_RULES,
} from './domains/access/rules.js';
import { createUserService } from './domains/users/service.js';
import { BOOTSTRAP_CREDENTIAL_FILE } from './domains/users/users.js';
import { userStore } from './domains/users/store.js';
import { createApiKeyService } from './domains/api-keys/service.js';
import { apiKeyStore } from './domains/api-keys/store.js';
import { API_KEY_PREFIX } from './domains/api-keys/api-keys.js';
import { deviceStore } from './domains/devices/store.js';
import { loadTimeSigner } from './domains/time/signer.js';
import { createRegistrationTokens, looksLikeJwt } from './domains/provisioning/registration-tokens.js';
import { createSecretBox, loadSecretKey } from './platform/secret-box.js';
import { restrictDataDir } from './platform/data-dir.js';
import { createLocalNotifier } from './platform/bus.js';
import { createOutbox } from './platform/outbox.js';
import { createCursors } from './platform/pagination.js';
import type { TenantCaller } from './platform/caller.js';
import { createLogger, createMetrics, type Logger } from './platform/observability.js';
import { transactionOf, type Db, type Queryable } from './store/db.js';
import { migrate } from './store/migrate.js';
import { openPglite } from './store/pglite.js';
import { openPostgres } from './store/postgres.js';
import { createJobRunner, type Job } from './workers/runner.js';
import { housekeepingJobs } from './workers/housekeeping.js';
import { checkpointJob, trustRefreshJob } from './workers/node-jobs.js';
import { OUTBOX_DELIVERY_JOB, outboxJobs } from './workers/outbox.js';

export interface Platform {
  readonly httpPort: number;
  readonly mqttPort: number;
  readonly mqttMtlsPort: number;
  readonly insecureMqttPort: number | null;
  readonly caCert: string;
  readonly caFile: string;
  /** The server certificate is the operator's (MOORING_TLS_CERT_FILE), not issued by the platform CA. */
  readonly operatorCertificate: boolean;
  /**
   * Where the one-time admin credential is while its password is unused (set on the first start, and
   * on later starts until the password is changed); null once it is spent.
   */
  readonly bootstrapCredentialFile: string | null;
  readonly logger: Logger;
  readonly db: Db;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Use this store instead of opening one from the configuration (tests pass a PostgreSQL schema). */
  db?: Db;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Starts everything, or nothing: when a step fails (a port in use, a store that does not answer), what
 * was already opened is closed again before the error propagates, so the process can exit.
 */
export async function startPlatform(config: Config, options: StartOptions = {}): Promise<Platform> {
  const opened: (() => Promise<unknown> | unknown)[] = [];
  try {
    return await startPlatformSteps(config, options, opened);
  } catch (e) {
    for (const close of opened.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => undefined);
    throw e;
  }
}

async function startPlatformSteps(
  config: Config,
  options: StartOptions,
  opened: (() => Promise<unknown> | unknown)[],
): Promise<Platform> {
  const logger = createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const bootstrapFile = join(config.dataDir, BOOTSTRAP_CREDENTIAL_FILE);
  const readBootstrapFile = () => {
    try {
      const parsed = JSON.parse(readFileSync(bootstrapFile, 'utf8')) as {
        username?: unknown;
        password?: unknown;
      };
      return typeof parsed.username === 'string' && typeof parsed.password === 'string'
        ? { username: parsed.username, password: parsed.password }
        : undefined;
    } catch {
      return undefined;
    }
  };
  const removeBootstrapFile = (why: string) => {
    if (!existsSync(bootstrapFile)) return;
    rmSync(bootstrapFile, { force: true });
    logger.info({ file: bootstrapFile }, `removed the bootstrap administrator credential: ${why}`);
  };
  // Owner-only before anything is read or written there, again once the start has written its files,
  // after every checkpoint and at stop (see platform/data-dir.ts).
  const restrictModes = (when: string) => {
    const r = restrictDataDir(config.dataDir);
    if (r.changed > 0) logger.info({ changed: r.changed, when }, 'made data directory entries owner-only');
    for (const f of r.failed)
      logger.warn({ path: f.path, err: f.error }, 'cannot make a data directory entry owner-only');
  };
  restrictModes('start');

  // Store
  const db =
    options.db ??
    (config.databaseUrl
      ? await openPostgres({ url: config.databaseUrl })
      : await openPglite(join(config.dataDir, 'db')));
  if (!options.db) opened.push(() => db.close());
  const applied = await migrate(db);
  if (applied.length > 0) logger.info({ applied }, 'database migrations applied');

  // Services
  // Notices reach the nodes alive now; facts that must not be lost go through the outbox.
  const bus = createLocalNotifier((err, topic) => logger.error({ err, topic }, 'a notifier listener failed'));
  const outbox = createOutbox({ db, logger: logger.child({ component: 'outbox' }) });
  const metrics = createMetrics();
  const secretKey = loadSecretKey(config.secretKey, config.dataDir);
  const cursors = createCursors(secretKey);
  const tenancy = createTenancyService({ store: tenancyStore(db) });
  const roles = createRoleService({ store: roleStore(db), transaction: transactionOf(db, roleStore) });
  const devices = createDeviceService({
    store: deviceStore(db),
    transaction: transactionOf(db, deviceStore),
    bus,
    outbox,
    cursors,
  });
  const requireDevice = (caller: TenantCaller, deviceId: string) => devices.get(caller, deviceId);
  // Other domains create and read device rows through the devices contract, in their transaction.
  const deviceRecordsOn = (tx?: Queryable) => deviceStore(tx ?? db);
  const writer = createBatchWriter(db, config.telemetryBatchMaxRows, {
    onCommit: (_messages, rows, ms) => {
      metrics.batchRows.observe(rows);
      metrics.commitSeconds.observe(ms / 1000);
    },
  });
  const telemetry = createTelemetryService({ store: telemetryStore(db), writer, cursors, requireDevice });
  const commands = createCommandService({
    store: commandStore(db),
    bus,
    cursors,
    defaultTtlSeconds: config.commandDefaultTtlSeconds,
    maxTtlSeconds: config.commandMaxTtlSeconds,
    requireDevice,
  });
  const presence = createPresenceService({
    store: presenceStore(db),
    transaction: transactionOf(db, presenceStore),
    nodeId: config.nodeId,
    requireDevice,
  });
  const box = createSecretBox(secretKey);
  const tls = await ensureTlsMaterial({
    dataDir: config.dataDir,
    certFile: config.tlsCertFile,
    keyFile: config.tlsKeyFile,
    hostnames: config.tlsHostnames,
    box,
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
    deviceRecords: deviceRecordsOn,
    bus,
    cursors,
    box,
    tokens: registrationTokens,
    pki,
    operationTtlSeconds: config.provisioningOperationTtlSeconds,
    refreshGraceMs: config.registrationTokenTtlSeconds * 1000,
    audit: recordAudit,
  });
  // A device proves itself with an access key or a registration token (a JWT).
  const authenticateDevice = (secret: string, claimedDeviceId?: string) =>
    looksLikeJwt(secret)
      ? provisioning.authenticate(secret, claimedDeviceId)
      : devices.authenticate(secret, claimedDeviceId);
  // Revoking what is already revoked changes nothing: a fact handed on twice is harmless.
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
    // The bootstrap password was changed: the file holding it has served its purpose.
    onOneTimePasswordSpent: (user) => {
      if (user.platformAdmin) removeBootstrapFile('its one-time password was changed');
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

  // Authorization: the adapters get the services wrapped by the access guard; services call each
  // other unguarded (the outer call was checked).
  const deviceRecords = deviceStore(db);
  const access = { deviceTags: (tenantId: string, id: string) => deviceRecords.tags(tenantId, id) };
  const services = {
    tenancy: guard(tenancy, TENANCY_RULES, access),
    users: guard(users, USER_RULES, access),
    apiKeys: guard(apiKeys, API_KEY_RULES, access),
    roles: guard(roles, ROLE_RULES, access),
    devices: guard(devices, DEVICE_RULES, access),
    telemetry: guard(telemetry, TELEMETRY_RULES, access),
    commands: guard(commands, COMMAND_RULES, access),
    presence: guard(presence, PRESENCE_RULES, access),
    provisioning: guard(provisioning, PROVISIONING_RULES, access),
    pki: guard(pki, PKI_RULES, access),
    ownership: guard(ownership, OWNERSHIP_RULES, access),
    factory: guard(factory, FACTORY_RULES, access),
    audit: guard(audit, AUDIT_RULES, access),
    time,
    authenticateDevice,
    authenticateBearer: (token: string, source: string | null) =>
      token.startsWith(`${API_KEY_PREFIX}_`)
        ? apiKeys.authenticate(token, source)
        : users.authenticate(token),
  };

  // Sessions this node held before an unclean stop are over.
  const stale = await presence.resetNode(config.nodeId, 'server_restart');
  if (stale > 0) logger.info({ devices: stale }, 'marked devices offline after restart');

  // First start: the platform administrator, with a password that works once (its first session may
  // only change it). A file left from an earlier start is removed once its password is spent; one from
  // before passwords were one-time becomes one-time.
  let bootstrapCredentialFile: string | null = null;
  const admin = await users.ensureBootstrapAdmin();
  if (admin) {
    bootstrapCredentialFile = bootstrapFile;
    writeFileSync(bootstrapCredentialFile, JSON.stringify(admin, null, 2) + '\n', { mode: 0o600 });
    logger.warn(
      { file: bootstrapCredentialFile },
      'created the platform administrator; its one-time password is in this file (owner-readable only): log in with it and choose your own',
    );
  } else if (existsSync(bootstrapFile)) {
    const credential = readBootstrapFile();
    const state = credential ? await users.reconcileBootstrapCredential(credential) : 'spent';
    if (state === 'spent') removeBootstrapFile('its password no longer works');
    else bootstrapCredentialFile = bootstrapFile;
  }
  // Adapters
  let ready = false;
  const broker = await createBroker({
    authenticateDevice,
    authenticateCertificate: (peer, claimedDeviceId) => pki.authenticate(peer, claimedDeviceId),
    provisioning: services.provisioning,
    telemetry: services.telemetry,
    commands: services.commands,
    presence: services.presence,
    bus,
    metrics,
    logger: logger.child({ component: 'mqtt' }),
  });
  opened.push(() => broker.close());
  const mtlsContext = async () => {
    const trust = await pki.trust();
    return withTlsPolicy({
      cert: tls.cert,
      key: tls.key,
      ca: [tls.ca, ...trust.cas],
      ...(trust.crls.length ? { crl: trust.crls } : {}),
    });
  };
  const initialTrust = await mtlsContext();
  const http = await createHttpServer({
    services,
    db,
    metrics,
    tls,
    clientTrust: { ca: initialTrust.ca, ...(initialTrust.crl ? { crl: initialTrust.crl } : {}) },
    broker,
    logger,
    audit: { records: audit, writer: auditWriter },
    isReady: () => ready,
  });
  opened.push(() => http.close());
  await http.listen({ port: config.httpPort, host: config.httpHost });
  const httpPort = (http.server.address() as AddressInfo).port;

  const mqttServer = createTlsServer(withTlsPolicy({ cert: tls.cert, key: tls.key }), (socket) => {
    refuseRenegotiation(socket);
    socket.setNoDelay(true);
    broker.handle(socket, { transport: 'mqtts', remoteAddress: socket.remoteAddress ?? null });
  });
  // A failed handshake (old TLS version, plain TCP, wrong CA) is the client's problem, not a crash.
  mqttServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'tls handshake failed'));
  opened.push(() => mqttServer.close());
  const mqttPort = await listen(mqttServer, config.mqttPort, config.mqttHost);

  // MQTT over mutual TLS: the handshake itself refuses certificates from another CA, expired ones and
  // revoked ones (CRL of every issuing CA); the trust is reloaded whenever CAs or CRLs change.
  const mtlsServer = createTlsServer(
    { ...initialTrust, requestCert: true, rejectUnauthorized: true },
    (socket) => {
      refuseRenegotiation(socket);
      socket.setNoDelay(true);
      const certificate = peerCertificateOf(socket);
      if (!certificate) return void socket.destroy();
      broker.handle(socket, {
        transport: 'mqtts-mtls',
        remoteAddress: socket.remoteAddress ?? null,
        certificate,
      });
    },
  );
  // A refused client certificate (another CA, expired, revoked) ends in a TLS alert; count it so that
  // operators can see refusals that never reach MQTT.
  mtlsServer.on('tlsClientError', (err) => {
    metrics.refused.inc({ transport: 'mqtts-mtls', reason: 'tls_handshake' });
    logger.debug({ err: err.message }, 'mtls handshake refused');
  });
  pki.onTrustChanged(async () => {
    try {
      const context = await mtlsContext();
      mtlsServer.setSecureContext(context);
      (http.server as unknown as { setSecureContext(o: object): void }).setSecureContext(context);
    } catch (err) {
      logger.error({ err }, 'reloading mTLS trust failed');
    }
  });
  opened.push(() => mtlsServer.close());
  const mqttMtlsPort = await listen(mtlsServer, config.mqttMtlsPort, config.mqttHost);

  let insecure: { server: Server; close(): Promise<void> } | null = null;
  let insecureMqttPort: number | null = null;
  if (config.devInsecureMqtt) {
    const dev = await createInsecureDevBroker();
    const server = createNetServer((socket) => dev.handle(socket));
    opened.push(
      () => server.close(),
      () => dev.close(),
    );
    insecureMqttPort = await listen(server, config.devInsecureMqttPort, '127.0.0.1');
    insecure = { server, close: dev.close };
    logger.warn(
      { port: insecureMqttPort },
      'DEVELOPMENT ONLY: anonymous plain-TCP MQTT listener on 127.0.0.1. It is a bare broker with no access to device data. Never enable it in production.',
    );
  }

  // Workers: cluster jobs run on one node per period (a lease in the store), node jobs on every node.
  const jobs: Job[] = [
    ...housekeepingJobs({
      expireCommands: () => commands.expireDue(),
      expireIdempotencyKeys: () => expireIdempotencyKeys(db),
      expireProvisioning: () => provisioning.expireDue(),
      applyAuditRetention: () => audit.applyRetention(),
    }),
    ...outboxJobs(outbox),
    trustRefreshJob(() => pki.refreshTrust()),
    ...(db.kind === 'pglite'
      ? [
          checkpointJob({
            checkpoint: () => db.exec('CHECKPOINT'),
            afterCheckpoint: () => restrictModes('checkpoint'),
          }),
        ]
      : []),
  ];
  const runner = createJobRunner({
    db,
    nodeId: config.nodeId,
    jobs,
    logger: logger.child({ component: 'workers' }),
  });
  outbox.onAdded(() => runner.nudge(OUTBOX_DELIVERY_JOB));
  runner.start();
  opened.push(() => runner.stop());

  restrictModes('started');
  ready = true;
  logger.info(
    { httpPort, mqttPort, mqttMtlsPort, store: db.kind, dataDir: config.dataDir },
    'mooring started',
  );

  let stopping: Promise<void> | undefined;
  return {
    httpPort,
    mqttPort,
    mqttMtlsPort,
    insecureMqttPort,
    caCert: tls.ca,
    caFile: tls.caFile,
    operatorCertificate: tls.operatorCertificate,
    bootstrapCredentialFile,
    logger,
    db,
    stop() {
      stopping ??= (async () => {
        ready = false;
        await runner.stop();
        // Stop taking new connections, then let every queued message commit before the store closes.
        mqttServer.close();
        mtlsServer.close();
        if (insecure) {
          insecure.server.close();
          await insecure.close();
        }
        provisioning.endLongPolls();
        await broker.close();
        await http.close();
        await writer.drain();
        await presence.resetNode(config.nodeId, 'server_shutdown').catch(() => 0);
        await auditWriter.flush();
        if (!options.db) await db.close();
        restrictModes('stop');
        logger.info('mooring stopped');
      })();
      return stopping;
    },
  };
}
