/**
 * Presence: whether each device is connected, since when, and why it last went away. A connection is
 * named by a session id so that the late disconnect of a taken-over session cannot mark a device that
 * has already reconnected as offline.
 */
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';

export interface PresenceEvent {
  at: number;
  event: 'connected' | 'disconnected';
  reason: string | null;
  remoteAddress: string | null;
  transport: string | null;
}

export interface ConnectionInfo {
  remoteAddress: string | null;
  transport: string;
}

export interface PresenceService {
  /** Records a new live session of a device. */
  connected(device: DeviceIdentity, sessionId: string, info: ConnectionInfo): Promise<void>;
  /**
   * Records the end of a session, with the address and transport it had; ignored when a newer session
   * has taken over.
   */
  disconnected(
    device: DeviceIdentity,
    sessionId: string,
    reason: string,
    info: ConnectionInfo,
  ): Promise<void>;
  /**
   * On start: sessions this node held before it stopped are over (unclean shutdown or crash); each
   * record carries the address and transport of the session's connect record.
   */
  resetNode(nodeId: string, reason: string): Promise<number>;
  /** A device's connect/disconnect history, newest first. */
  history(caller: TenantCaller, deviceId: string, limit: number): Promise<PresenceEvent[]>;
}
