/**
 * The notices the MQTT adapter listens to, in one place: the adapter's only dependency on the platform
 * bus. Each is about live connections (drop these sessions, push this device's commands, tell this
 * connection a decision), so a notice missed by a node that was down is harmless: reconnecting
 * clients catch up from the store.
 */
import type { Notifier, NotifierEvents } from '../../platform/notifier.js';

type Listen<K extends keyof NotifierEvents> = (handler: (event: NotifierEvents[K]) => void) => () => void;

export interface BrokerNotices {
  /** Live sessions of a device must be dropped (disabled, deleted, credential revoked). */
  onDeviceDisconnect: Listen<'device.disconnect'>;
  /** A command was created for a device: push it if the device is connected here. */
  onCommandCreated: Listen<'command.created'>;
  /** A device's OTA offers or cancels changed: push them if the device is connected here. */
  onOtaChanged: Listen<'ota.changed'>;
  /** A device's desired configuration changed (or it was acknowledged, or asked for): push it here. */
  onConfigChanged: Listen<'config.changed'>;
  /** A provisioning token was revoked: connections holding it are dropped. */
  onProvisioningTokenRevoked: Listen<'provisioning.token-revoked'>;
  /** A provisioning operation was decided: a connection waiting on it is told. */
  onProvisioningDecided: Listen<'provisioning.decided'>;
}

export function brokerNotices(bus: Notifier): BrokerNotices {
  return {
    onDeviceDisconnect: (handler) => bus.subscribe('device.disconnect', handler),
    onCommandCreated: (handler) => bus.subscribe('command.created', handler),
    onOtaChanged: (handler) => bus.subscribe('ota.changed', handler),
    onConfigChanged: (handler) => bus.subscribe('config.changed', handler),
    onProvisioningTokenRevoked: (handler) => bus.subscribe('provisioning.token-revoked', handler),
    onProvisioningDecided: (handler) => bus.subscribe('provisioning.decided', handler),
  };
}
