/**
 * CONNECT, as lists of named steps run by one loop (the shape of aedes' own `connectActions` in
 * `lib/handlers/connect.js`). They run inside aedes' `authenticate` hook: when the last step answers,
 * aedes goes on with its own steps (keepalive, stored subscriptions, will, registration) and writes
 * CONNACK 0. A step refuses by throwing a `ConnectRefusal` naming an error code; `return-codes.ts`
 * turns it into the CONNACK return code.
 *
 * Steps may be asynchronous (a credential lookup). The loop awaits only those, so the synchronous
 * checks that follow one run in the same turn of the event loop as the registration they guard: no
 * revocation notice or second CONNECT lands between "checked" and "registered".
 *
 * The limits (CONNECTs per listener and per client id, a place among the tenant's connections) are
 * steps of their own, in `connect-limits.ts`; the attempt and its refusal are in `connect-attempt.ts`.
 */
import type { AuthenticateError, Client } from 'aedes';
import { PROVISIONING_CLIENT_PREFIX, PROVISIONING_USERNAME } from '@mooring/protocol';
import { isAppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { PeerCertificate } from '../../domains/pki/pki.js';
import type { ProvisioningService } from '../../domains/provisioning/provisioning.js';
import type { Logger, Metrics } from '../../platform/observability.js';
import type { RefusalLog } from '../../domains/fleet/refusal-log.js';
import type { LimitEventLog } from '../../domains/limits/event-log.js';
import type { Limiter } from '../../platform/limits/limits.js';
import {
  ConnectRefusal,
  type AuthenticateDone,
  type ConnectAttempt,
  type ConnectStep,
} from './connect-attempt.js';
import { createConnectLimits } from './connect-limits.js';
import { createOutbound, type OutboundLimits } from './outbound.js';
import { CONNACK_RETURN_CODES, type ConnectRefusalCode } from './return-codes.js';
import type { RevocationLog } from './revocations.js';
import type { ConnectionMeta, DeviceSession, ProvisioningSession, Transport } from './session.js';
import type { SessionRegistry } from './session-registry.js';

export interface ConnectDeps {
  authenticateDevice(secret: string, claimedDeviceId: string): Promise<AuthenticatedDevice>;
  authenticateCertificate(peer: PeerCertificate, claimedDeviceId: string): Promise<AuthenticatedDevice>;
  provisioning: ProvisioningService;
  pendingMeta: WeakMap<Client, ConnectionMeta>;
  sessions: WeakMap<Client, DeviceSession>;
  provisioningSessions: WeakMap<Client, ProvisioningSession>;
  registry: SessionRegistry<Client>;
  revocations: RevocationLog;
  outboundLimits: OutboundLimits;
  metrics: Metrics;
  logger: Logger;
  /** Where refused connects of an authenticated device are kept. */
  refusals?: Pick<RefusalLog, 'refused'> | undefined;
  /**
   * Counts CONNECTs per listener and per client id, and the tenant's open connections
   * (`mqtt.connects_per_listener`, `mqtt.connects_per_client_id`, `mqtt.connections_per_tenant`);
   * none: not limited.
   */
  limiter?: Pick<Limiter, 'consume' | 'acquire'> | undefined;
  /** Where refusals by a limit are kept, for the tenant (bounded: domains/limits/event-log.ts). */
  limitEvents?: Pick<LimitEventLog, 'exceeded'> | undefined;
}

/** aedes' `authenticate` hook. */
export function createConnectHandler(deps: ConnectDeps) {
  const { metrics, logger, registry } = deps;
  const noLimit = () => undefined;
  const limits = deps.limiter
    ? createConnectLimits({ limiter: deps.limiter, limitEvents: deps.limitEvents, logger })
    : { checkListenerRate: noLimit, checkConnectRate: noLimit, holdTenantPlace: noLimit };
  const { checkListenerRate, checkConnectRate, holdTenantPlace } = limits;

  const slowConsumer = (transport: Transport, onDrop: () => void) => () => {
    metrics.refused.inc({ transport, reason: 'slow_consumer' });
    onDrop();
  };

  // --- device connections: access key, registration token, or a client certificate (mutual TLS)

  function checkCredentialShape(a: ConnectAttempt) {
    a.revocationMark = deps.revocations.mark();
    const { client, username, password } = a;
    // Mutual TLS: the verified certificate is the identity; the client id must name its device and a
    // username, if sent, must agree.
    if (a.meta.certificate) {
      if (username && username !== client.id)
        throw new ConnectRefusal('INVALID_CREDENTIALS', 'bad_credentials');
      return;
    }
    // [MQTT-3.1.3-3]: the client id names the device; username and client id must agree.
    if (!username || !password || username !== client.id)
      throw new ConnectRefusal('INVALID_CREDENTIALS', 'bad_credentials');
  }

  async function authenticate(a: ConnectAttempt) {
    try {
      a.device = a.meta.certificate
        ? await deps.authenticateCertificate(a.meta.certificate, a.client.id)
        : await deps.authenticateDevice(a.password!.toString('utf8'), a.username!);
    } catch (err) {
      if (isAppError(err) && (err.code === 'DEVICE_DISABLED' || err.code === 'CERTIFICATE_PENDING'))
        throw new ConnectRefusal(err.code, 'device_disabled');
      if (isAppError(err)) throw new ConnectRefusal('INVALID_CREDENTIALS', 'bad_credentials');
      logger.error({ err }, 'device authentication failed');
      throw new ConnectRefusal('NOT_READY', 'auth_error');
    }
  }

  /** The connection went away while its credential was looked up: nothing to register (its 'close' has fired already, so it would never leave the registry). */
  function checkConnectionOpen(a: ConnectAttempt) {
    if (a.client.closed || a.client.conn.destroyed)
      throw new ConnectRefusal('FORBIDDEN', 'connection_closed');
  }

  /** The credential was revoked (or the device disabled) while it was being looked up. */
  function checkRevokedDuringAuth(a: ConnectAttempt) {
    if (deps.revocations.revokedSince(a.revocationMark, a.device!))
      throw new ConnectRefusal('FORBIDDEN', 'credential_revoked');
  }

  /**
   * A client id held by another identity is not taken over [MQTT-3.1.3-8]: only the same device may
   * replace its own session.
   */
  function checkClientIdHolder(a: ConnectAttempt) {
    const holder = registry.holderOf(a.client.id);
    const held = holder && holder !== a.client ? deps.sessions.get(holder) : undefined;
    if (held && held.device.deviceId !== a.device!.deviceId)
      throw new ConnectRefusal('CLIENT_ID_REJECTED', 'client_id_in_use');
    a.takesOver = held;
  }

  /**
   * A stored (offline) session is resumed only by the identity that made it: a manufacturer serial
   * used as client id by a device of another tenant starts clean or not at all.
   */
  async function claimStoredSession(a: ConnectAttempt) {
    const { tenantId, deviceId } = a.device!;
    if (!(await registry.claimStoredSession(a.client.id, { tenantId, deviceId }, !a.client.clean)))
      throw new ConnectRefusal('CLIENT_ID_REJECTED', 'client_id_in_use');
  }

  function register(a: ConnectAttempt) {
    const { client, meta } = a;
    const device = a.device!;
    // A second connection with the same client id takes the session over [MQTT-3.1.4-2]: aedes closes
    // the old one next; record why.
    if (a.takesOver) a.takesOver.closeReason = 'session_taken_over';
    const subscriptions = new Map<string, number>();
    const session: DeviceSession = {
      device,
      topicId: device.clientId ?? device.deviceId,
      sessionId: newId('ses'),
      transport: meta.transport,
      remoteAddress: meta.remoteAddress,
      connectRecorded: Promise.resolve(),
      ackTail: Promise.resolve(),
      outbound: createOutbound(
        client,
        deps.outboundLimits,
        subscriptions,
        slowConsumer(meta.transport, () => (session.closeReason ??= 'slow_consumer')),
      ),
      subscriptions,
      feeds: new Map(),
      revoked: false,
      ready: false,
    };
    deps.sessions.set(client, session);
    registry.addLive(device.deviceId, client);
    // The tenant's place is the connection's now: given back when its socket closes, whatever closes
    // it (DISCONNECT, a lost socket, a takeover, a failure before CONNACK is written).
    const place = a.place;
    a.place = undefined;
    client.conn.once('close', () => {
      registry.removeLive(device.deviceId, client);
      place?.release();
    });
  }

  // --- provisioning-only connections: user name `$provisioning`, password = a provisioning token

  function checkProvisioningShape(a: ConnectAttempt) {
    // Its client id lives in its own prefix, so it can never take over a device's session.
    if (!a.password || !a.client.id.startsWith(PROVISIONING_CLIENT_PREFIX))
      throw new ConnectRefusal('INVALID_CREDENTIALS', 'bad_credentials');
    // No persistent sessions for provisioning: a queued answer (a registration token) must never wait
    // in a session that another token could resume with the same client id.
    if (!a.client.clean) throw new ConnectRefusal('CLIENT_ID_REJECTED', 'persistent_session_refused');
  }

  async function authenticateToken(a: ConnectAttempt) {
    const secret = a.password!.toString('utf8');
    try {
      const { tokenId } = await deps.provisioning.authenticateToken(secret);
      a.token = { tokenId, secret };
    } catch (err) {
      if (isAppError(err)) throw new ConnectRefusal('INVALID_CREDENTIALS', 'bad_credentials');
      logger.error({ err }, 'provisioning authentication failed');
      throw new ConnectRefusal('NOT_READY', 'auth_error');
    }
  }

  /** Only the same token may take over a provisioning client id. */
  function checkProvisioningHolder(a: ConnectAttempt) {
    const holder = registry.holderOf(a.client.id);
    const held = holder && holder !== a.client ? deps.provisioningSessions.get(holder) : undefined;
    if (held && held.tokenId !== a.token!.tokenId)
      throw new ConnectRefusal('CLIENT_ID_REJECTED', 'client_id_in_use');
  }

  function registerProvisioning(a: ConnectAttempt) {
    const subscriptions = new Map<string, number>();
    deps.provisioningSessions.set(a.client, {
      secret: a.token!.secret,
      tokenId: a.token!.tokenId,
      ackTail: Promise.resolve(),
      outbound: createOutbound(
        a.client,
        deps.outboundLimits,
        subscriptions,
        slowConsumer(a.meta.transport, () => undefined),
      ),
      subscriptions,
    });
  }

  /** Accepted: aedes finishes its own steps and writes CONNACK 0. */
  function connack(a: ConnectAttempt) {
    a.answered = true;
    a.done(null, true);
  }

  const deviceConnect: readonly ConnectStep[] = [
    checkListenerRate,
    checkCredentialShape,
    authenticate,
    checkConnectRate,
    checkConnectionOpen,
    checkRevokedDuringAuth,
    checkClientIdHolder,
    holdTenantPlace,
    claimStoredSession,
    // The claim may answer asynchronously (a shared registry): look again at what may have changed.
    checkConnectionOpen,
    checkRevokedDuringAuth,
    checkClientIdHolder,
    register,
    connack,
  ];

  const provisioningConnect: readonly ConnectStep[] = [
    checkListenerRate,
    checkProvisioningShape,
    authenticateToken,
    checkProvisioningHolder,
    registerProvisioning,
    connack,
  ];

  async function run(steps: readonly ConnectStep[], attempt: ConnectAttempt) {
    for (const step of steps) {
      const pending = step(attempt);
      if (pending) await pending;
    }
  }

  function refuse(transport: Transport, done: AuthenticateDone, code: ConnectRefusalCode, reason: string) {
    metrics.refused.inc({ transport, reason });
    const err = new Error(reason) as AuthenticateError;
    err.returnCode = CONNACK_RETURN_CODES[code];
    done(err, false);
  }

  return function authenticateHook(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: AuthenticateDone,
  ) {
    const meta = deps.pendingMeta.get(client);
    if (!meta) return refuse('mqtts', done, 'FORBIDDEN', 'no_transport');
    const attempt: ConnectAttempt = {
      client,
      username,
      password,
      meta,
      done,
      answered: false,
      revocationMark: 0,
    };
    const steps =
      username === PROVISIONING_USERNAME && !meta.certificate ? provisioningConnect : deviceConnect;
    run(steps, attempt).catch((err: unknown) => {
      // A place taken and not yet handed to the connection goes back now.
      attempt.place?.release();
      attempt.place = undefined;
      if (attempt.answered) return logger.error({ err }, 'mqtt connect failed after it was accepted');
      attempt.answered = true;
      if (err instanceof ConnectRefusal) {
        // Kept only for a device that proved who it is: a wrong credential names no one reliably.
        if (attempt.device && err.reason !== 'connection_closed')
          deps.refusals?.refused(attempt.device, {
            kind: 'connect_refused',
            code: err.code,
            topic: null,
            message: `connect refused: ${err.reason}${err.detail ? `: ${err.detail}` : ''}`,
          });
        return refuse(meta.transport, done, err.code, err.reason);
      }
      logger.error({ err }, 'mqtt connect failed');
      refuse(meta.transport, done, 'NOT_READY', 'auth_error');
    });
  };
}
