/**
 * The composition root, as the wiring diagram: store → notifier and outbox → services → adapters
 * (HTTPS, MQTT/TLS, MQTT/mTLS, MQTT/WSS) → workers. `startPlatform` returns a handle with the bound
 * ports and a graceful `stop`. What each box is made of lives in `wiring/` and `workers/`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { createBroker } from './adapters/broker/broker.js';
import { DEFAULT_OUTBOUND_LIMITS } from './adapters/broker/outbound.js';
import { createHttpServer } from './adapters/http/server.js';
import { ensureTlsMaterial } from './domains/pki/platform-ca.js';
import { createSecretBox, loadSecretKey } from './platform/secret-box.js';
import { restrictDataDir } from './platform/data-dir.js';
import { createLocalNotifier } from './platform/notifier.js';
import { createOutbox } from './platform/outbox.js';
import { createCursors } from './platform/pagination.js';
import { createCsrfTokens } from './platform/csrf.js';
import { defaultConsoleDir, loadConsole } from './adapters/http/console.js';
import { createLogger, createMetrics, type Logger } from './platform/observability.js';
import type { Db } from './store/db.js';
import { migrate } from './store/migrate.js';
import { openPglite } from './store/pglite.js';
import { openPostgres } from './store/postgres.js';
import { createJobRunner } from './workers/runner.js';
import {
  BRIDGE_FORWARDERS_JOB,
  OTA_ORCHESTRATOR_JOB,
  WEBHOOK_DELIVERY_JOB,
  DEVICE_BULK_JOB,
  platformJobs,
} from './workers/jobs.js';
import { OUTBOX_DELIVERY_JOB } from './workers/outbox.js';
import { createServices } from './wiring/services.js';
import { bootstrapCredentialFile } from './wiring/bootstrap-admin.js';
import { mutualTlsContext, startMqttListeners } from './wiring/listeners.js';

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
  /** A web console build was found at start, and is served at /console. */
  readonly consoleBuilt: boolean;
  readonly logger: Logger;
  readonly db: Db;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Use this store instead of opening one from the configuration (tests pass a PostgreSQL schema). */
  db?: Db;
  /** Serve the web console built in this directory instead of the `@mooring/console` package's build. */
  consoleDir?: string;
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
  // Owner-only before anything is read or written there, again once the start has written its files,
  // after every checkpoint and at stop (see platform/data-dir.ts).
  const restrictModes = (when: string) => {
    const r = restrictDataDir(config.dataDir);
    if (r.changed > 0) logger.info({ changed: r.changed, when }, 'made data directory entries owner-only');
    for (const f of r.failed)
      logger.warn({ path: f.path, err: f.error }, 'cannot make a data directory entry owner-only');
  };
  restrictModes('start');
  const bootstrapFile = bootstrapCredentialFile(config.dataDir, logger);

  // Store
  const db =
    options.db ??
    (config.databaseUrl
      ? await openPostgres({ url: config.databaseUrl })
      : await openPglite(join(config.dataDir, 'db')));
  if (!options.db) opened.push(() => db.close());
  const applied = await migrate(db);
  if (applied.length > 0) logger.info({ applied }, 'database migrations applied');

  // Notices reach the nodes alive now; facts that must not be lost go through the outbox.
  const bus = createLocalNotifier((err, topic) => logger.error({ err, topic }, 'a notifier listener failed'));
  const outbox = createOutbox({ db, nodeId: config.nodeId, logger: logger.child({ component: 'outbox' }) });

  // Services
  const metrics = createMetrics();
  const secretKey = loadSecretKey(config.secretKey, config.dataDir);
  const box = createSecretBox(secretKey);
  const tls = await ensureTlsMaterial({
    dataDir: config.dataDir,
    certFile: config.tlsCertFile,
    keyFile: config.tlsKeyFile,
    hostnames: config.tlsHostnames,
    box,
  });
  // Built with the workers below; services that commit new work nudge it.
  let nudgeOrchestrator = (): void => undefined;
  let nudgeWebhooks = (): void => undefined;
  let nudgeBulkJobs = (): void => undefined;
  const platform = await createServices({
    config,
    db,
    bus,
    outbox,
    cursors: createCursors(secretKey),
    box,
    tls,
    metrics,
    logger,
    onBootstrapPasswordSpent: () => bootstrapFile.remove('its one-time password was changed'),
    nudgeOrchestrator: () => nudgeOrchestrator(),
    nudgeWebhooks: () => nudgeWebhooks(),
    nudgeBulkJobs: () => nudgeBulkJobs(),
  });
  const { services, domains } = platform;
  // Known before the first presence change (the restart's own disconnects included).
  await platform.interest.refresh();
  platform.interest.start();
  opened.push(async () => platform.interest.stop());

  // Sessions this node held before an unclean stop are over.
  const stale = await domains.presence.resetNode(config.nodeId, 'server_restart');
  if (stale > 0) logger.info({ devices: stale }, 'marked devices offline after restart');
  const bootstrapCredential = await bootstrapFile.ensure(domains.users);

  // Adapters
  let ready = false;
  const broker = await createBroker({
    authenticateDevice: platform.authenticateDevice,
    authenticateCertificate: (peer, claimedDeviceId) => domains.pki.authenticate(peer, claimedDeviceId),
    provisioning: services.provisioning,
    telemetry: services.telemetry,
    fleet: services.fleet,
    commands: services.commands,
    ota: services.ota,
    config: services.config,
    presence: services.presence,
    refusals: domains.refusalLog,
    bus,
    metrics,
    logger: logger.child({ component: 'mqtt' }),
    outboundLimits: { ...DEFAULT_OUTBOUND_LIMITS, drainTimeoutMs: config.mqttDrainTimeoutSeconds * 1000 },
    connectTimeoutMs: config.mqttConnectTimeoutSeconds * 1000,
    pendingPerAddress: () => config.limits['mqtt.pending_connections_per_address'],
    maxPacketBytes: config.mqttMaxPacketBytes,
    maxKeepaliveSeconds: config.mqttMaxKeepaliveSeconds,
    limiter: services.limits,
    limitEvents: domains.limitEventLog,
  });
  opened.push(() => broker.close());
  const initialTrust = await mutualTlsContext(tls, domains.pki)();
  const consoleBuild = loadConsole(options.consoleDir ?? defaultConsoleDir());
  const http = await createHttpServer({
    services,
    db,
    metrics,
    csrf: createCsrfTokens(secretKey),
    consoleBuild,
    hygiene: config,
    tls,
    clientTrust: { ca: initialTrust.ca, ...(initialTrust.crl ? { crl: initialTrust.crl } : {}) },
    broker,
    logger,
    audit: { records: domains.audit, writer: platform.auditWriter },
    isReady: () => ready,
  });
  opened.push(() => http.close());
  await http.listen({ port: config.httpPort, host: config.httpHost });
  const httpPort = (http.server.address() as AddressInfo).port;
  const mqtt = await startMqttListeners({
    config,
    tls,
    broker,
    pki: domains.pki,
    alsoTrusting: [http.server as unknown as { setSecureContext(o: object): void }],
    initialTrust,
    metrics,
    logger,
    opened,
  });

  // Workers
  const runner = createJobRunner({
    db,
    nodeId: config.nodeId,
    jobs: platformJobs({ db, outbox, ...domains, afterCheckpoint: () => restrictModes('checkpoint') }),
    logger: logger.child({ component: 'workers' }),
  });
  outbox.onAdded(() => runner.nudge(OUTBOX_DELIVERY_JOB));
  nudgeOrchestrator = () => runner.nudge(OTA_ORCHESTRATOR_JOB);
  nudgeWebhooks = () => runner.nudge(WEBHOOK_DELIVERY_JOB);
  nudgeBulkJobs = () => runner.nudge(DEVICE_BULK_JOB);
  runner.start();
  opened.push(() => runner.stop());
  opened.push(() => domains.bridgeForwarders.stop());
  opened.push(() => domains.webhookDelivery.close());
  // The first look for bridges to forward comes now, not one period after the start.
  runner.nudge(BRIDGE_FORWARDERS_JOB);

  restrictModes('started');
  ready = true;
  const { mqttPort, mqttMtlsPort, insecureMqttPort } = mqtt;
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
    bootstrapCredentialFile: bootstrapCredential,
    consoleBuilt: consoleBuild.built,
    logger,
    db,
    stop() {
      stopping ??= (async () => {
        ready = false;
        await runner.stop();
        await domains.bridgeForwarders.stop();
        await domains.webhookDelivery.close();
        // Stop taking new connections, then let every queued message commit before the store closes.
        await mqtt.close();
        domains.provisioning.endLongPolls();
        await broker.close();
        await domains.refusalLog.close();
        await http.close();
        await domains.limitEventLog.close();
        await platform.writer.drain();
        await domains.presence.resetNode(config.nodeId, 'server_shutdown').catch(() => 0);
        await platform.auditWriter.flush();
        if (!options.db) await db.close();
        restrictModes('stop');
        logger.info('mooring stopped');
      })();
      return stopping;
    },
  };
}
