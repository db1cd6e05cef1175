/**
 * One CONNECT on its way through the steps of `connect.ts`, and how a step refuses it. Apart from the
 * steps so that the steps of `connect-limits.ts` share them.
 */
import type { AuthenticateError, Client } from 'aedes';
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { LimitHold } from '../../platform/limits/limits.js';
import type { ConnectRefusalCode } from './return-codes.js';
import type { ConnectionMeta, DeviceSession } from './session.js';

export class ConnectRefusal extends Error {
  constructor(
    readonly code: ConnectRefusalCode,
    /** The `reason` label of `mooring_refused_total`. */
    readonly reason: string,
    /** What the stored refusal says besides the reason (the limit, its value, the wait). */
    readonly detail?: string,
  ) {
    super(reason);
  }
}

export type AuthenticateDone = (error: AuthenticateError | null, success: boolean | null) => void;

/** One CONNECT on its way through the steps; each step reads what earlier ones found. */
export interface ConnectAttempt {
  client: Client;
  username: string | undefined;
  password: Buffer | undefined;
  meta: ConnectionMeta;
  done: AuthenticateDone;
  /** `done` was called: nothing may answer again. */
  answered: boolean;
  /** Position in the revocation log when the credential lookup started. */
  revocationMark: number;
  device?: AuthenticatedDevice;
  /** This device's own connection that holds the client id now: it is taken over [MQTT-3.1.4-2]. */
  takesOver?: DeviceSession | undefined;
  /** The place among the tenant's connections, until `register` hands it to the connection. */
  place?: LimitHold | undefined;
  token?: { tokenId: string; secret: string };
}

export type ConnectStep = (attempt: ConnectAttempt) => void | Promise<void>;
