/**
 * The MQTT listeners: MQTT over TLS, MQTT over mutual TLS (whose trust follows the store's CAs and
 * CRLs, as does the HTTPS listener's for client certificates), and the development-only plain-TCP
 * broker. Every port is bound on `listen`, each `close` is registered with the caller as it opens.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions } from 'node:tls';
import type { Config } from '../config.js';
import { createInsecureDevBroker, type Broker } from '../adapters/broker/broker.js';
import type { TlsMaterial } from '../domains/pki/platform-ca.js';
import type { PkiService } from '../domains/pki/pki.js';
import { refuseRenegotiation, withTlsPolicy } from '../platform/tls/policy.js';
import { peerCertificateOf } from '../platform/tls/peer.js';
import type { Logger, Metrics } from '../platform/observability.js';

export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** The mTLS listeners' context: the server certificate, the platform CA and every trusted CA, the CRLs. */
export function mutualTlsContext(tls: TlsMaterial, pki: Pick<PkiService, 'trust'>) {
  return async () => {
    const trust = await pki.trust();
    return withTlsPolicy({
      cert: tls.cert,
      key: tls.key,
      ca: [tls.ca, ...trust.cas],
      ...(trust.crls.length ? { crl: trust.crls } : {}),
    });
  };
}

export interface MqttListenerDeps {
  config: Config;
  tls: TlsMaterial;
  broker: Broker;
  pki: Pick<PkiService, 'trust' | 'onTrustChanged'>;
  /** Other listeners whose client trust follows the mTLS listener's (the HTTPS listener). */
  alsoTrusting: { setSecureContext(options: SecureContextOptions): void }[];
  initialTrust: SecureContextOptions;
  metrics: Metrics;
  logger: Logger;
  /** Registers what must be closed when the start fails or the platform stops. */
  opened: (() => Promise<unknown> | unknown)[];
}

export interface MqttListeners {
  mqttPort: number;
  mqttMtlsPort: number;
  insecureMqttPort: number | null;
  /** Stops taking connections on every MQTT port (the broker closes the ones it has). */
  close(): Promise<void>;
}

export async function startMqttListeners(deps: MqttListenerDeps): Promise<MqttListeners> {
  const { config, tls, broker, metrics, logger, opened } = deps;
  // A socket that does not finish its TLS handshake in time is closed (Node's default is 120 s); the
  // CONNECT deadline (broker.ts) starts once the handshake is done.
  const handshakeTimeout = config.mqttHandshakeTimeoutSeconds * 1000;
  const mqttServer = createTlsServer(
    { ...withTlsPolicy({ cert: tls.cert, key: tls.key }), handshakeTimeout },
    (socket) => {
      refuseRenegotiation(socket);
      socket.setNoDelay(true);
      broker.handle(socket, {
        transport: 'mqtts',
        remoteAddress: socket.remoteAddress ?? null,
        counted: socket,
      });
    },
  );
  // A failed handshake (old TLS version, plain TCP, wrong CA) is the client's problem, not a crash.
  // A handshake that times out is reported here and not closed by Node once a listener is set: close it.
  mqttServer.on('tlsClientError', (err, socket) => {
    socket.destroy();
    logger.debug({ err: err.message }, 'tls handshake failed');
  });
  // Counted per address from the TCP accept, before any TLS work (pre-auth.ts).
  mqttServer.on('connection', (raw: Socket) => {
    if (!broker.admit(raw, 'mqtts')) raw.destroy();
  });
  opened.push(() => mqttServer.close());
  const mqttPort = await listen(mqttServer, config.mqttPort, config.mqttHost);

  // MQTT over mutual TLS: the handshake itself refuses certificates from another CA, expired ones and
  // revoked ones (CRL of every issuing CA); the trust is reloaded whenever CAs or CRLs change.
  const mtlsServer = createTlsServer(
    { ...deps.initialTrust, requestCert: true, rejectUnauthorized: true, handshakeTimeout },
    (socket) => {
      refuseRenegotiation(socket);
      socket.setNoDelay(true);
      const certificate = peerCertificateOf(socket);
      if (!certificate) return void socket.destroy();
      broker.handle(socket, {
        transport: 'mqtts-mtls',
        remoteAddress: socket.remoteAddress ?? null,
        certificate,
        counted: socket,
      });
    },
  );
  // A refused client certificate (another CA, expired, revoked) ends in a TLS alert; count it so that
  // operators can see refusals that never reach MQTT.
  mtlsServer.on('tlsClientError', (err, socket) => {
    socket.destroy();
    metrics.refused.inc({ transport: 'mqtts-mtls', reason: 'tls_handshake' });
    logger.debug({ err: err.message }, 'mtls handshake refused');
  });
  mtlsServer.on('connection', (raw: Socket) => {
    if (!broker.admit(raw, 'mqtts-mtls')) raw.destroy();
  });
  const context = mutualTlsContext(tls, deps.pki);
  deps.pki.onTrustChanged(async () => {
    try {
      const next = await context();
      mtlsServer.setSecureContext(next);
      for (const other of deps.alsoTrusting) other.setSecureContext(next);
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

  return {
    mqttPort,
    mqttMtlsPort,
    insecureMqttPort,
    async close() {
      mqttServer.close();
      mtlsServer.close();
      if (insecure) {
        insecure.server.close();
        await insecure.close();
      }
    },
  };
}
