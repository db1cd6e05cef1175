/**
 * The MQTT topic contract. Every device topic lives under `d/{deviceId}/`; the broker hooks enforce
 * that a device touches only its own namespace and that wildcards never cross it.
 */

export const TOPIC_ROOT = 'd';

/** What a device publishes (device → cloud). */
export type InboundKind = 'telemetry' | 'events' | 'command-result';

export interface ParsedDeviceTopic {
  deviceId: string;
  kind: InboundKind;
  /** Set for `command-result`. */
  commandId?: string;
}

export const topics = {
  telemetry: (deviceId: string) => `d/${deviceId}/telemetry`,
  events: (deviceId: string) => `d/${deviceId}/events`,
  command: (deviceId: string, commandId: string) => `d/${deviceId}/commands/${commandId}`,
  commandResult: (deviceId: string, commandId: string) => `d/${deviceId}/commands/${commandId}/result`,
  /** Filter a device subscribes to for its commands. */
  commandsFilter: (deviceId: string) => `d/${deviceId}/commands/+`,
  /** The firmware a device runs, `{version, hardwareClass}`: published at every connect (QoS 1). */
  firmware: (deviceId: string) => `d/${deviceId}/state/firmware`,
  /** An OTA offer or cancel for one operation (cloud → device, QoS 1; docs/ota.md). */
  ota: (deviceId: string, operationId: string) => `d/${deviceId}/ota/${operationId}`,
  /** Filter a device subscribes to for its OTA offers and cancels. */
  otaFilter: (deviceId: string) => `d/${deviceId}/ota/+`,
  /** The device's progress reports on one operation (device → cloud). */
  otaProgress: (deviceId: string, operationId: string) => `d/${deviceId}/ota/${operationId}/progress`,
  /** Desired configuration patches (cloud → device, QoS 1; `config.ts`). The device subscribes to it. */
  configDesired: (deviceId: string) => `d/${deviceId}/config/desired`,
  /** Acknowledgements of desired versions and reported configuration (device → cloud). */
  configReported: (deviceId: string) => `d/${deviceId}/config/reported`,
  /** A device that holds no usable desired document asks here for the whole one (device → cloud). */
  configGet: (deviceId: string) => `d/${deviceId}/config/get`,
  /** Where the platform tells a device why one of its messages was refused. */
  errors: (deviceId: string) => `d/${deviceId}/errors`,
} as const;

/** Parses a topic a device published to. Returns undefined for anything outside the contract. */
export function parseInboundTopic(topic: string): ParsedDeviceTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== TOPIC_ROOT || !parts[1]) return undefined;
  const deviceId = parts[1];
  if (parts.length === 3 && parts[2] === 'telemetry') return { deviceId, kind: 'telemetry' };
  if (parts.length === 3 && parts[2] === 'events') return { deviceId, kind: 'events' };
  if (parts.length === 5 && parts[2] === 'commands' && parts[3] && parts[4] === 'result') {
    return { deviceId, kind: 'command-result', commandId: parts[3] };
  }
  return undefined;
}

/**
 * The filters a device may subscribe to: exactly its command filter `d/{id}/commands/+`, its OTA
 * filter `d/{id}/ota/+`, its desired configuration topic and its error topic. Anything else (`#`, `d/+/…`, another device, a single command id) is refused.
 */
export function isAllowedDeviceSubscription(deviceId: string, filter: string): boolean {
  return (
    filter === topics.commandsFilter(deviceId) ||
    filter === topics.otaFilter(deviceId) ||
    filter === topics.configDesired(deviceId) ||
    filter === topics.errors(deviceId)
  );
}

/**
 * Provisioning over MQTT, for a connection that holds only a provisioning token: username
 * `$provisioning`, password = the token, client id `prov-…` (so it can never take over a device's
 * session). Such a connection may publish only to its three request topics and subscribe only to its
 * result topic.
 */
export const PROVISIONING_USERNAME = '$provisioning';
export const PROVISIONING_CLIENT_PREFIX = 'prov-';

export const provisioningTopics = {
  /** Start (or restart) an operation: body {serial, attributes?, verificationCode?, csr?, requestId?}. */
  start: (clientId: string) => `prov/${clientId}/operations`,
  /** Ask for an operation's state: body {requestId?}. */
  poll: (clientId: string, operationId: string) => `prov/${clientId}/operations/${operationId}/poll`,
  /** Exchange a registration token for a new one: body {registrationToken, requestId?}. */
  refresh: (clientId: string) => `prov/${clientId}/refresh`,
  /** Where every answer arrives (QoS 1): operation views, refreshed tokens and errors. */
  result: (clientId: string) => `prov/${clientId}/result`,
} as const;

export type ProvisioningRequest =
  { kind: 'start' } | { kind: 'poll'; operationId: string } | { kind: 'refresh' };

/** Parses a topic a provisioning connection published to; undefined for anything else. */
export function parseProvisioningTopic(clientId: string, topic: string): ProvisioningRequest | undefined {
  if (topic === provisioningTopics.start(clientId)) return { kind: 'start' };
  if (topic === provisioningTopics.refresh(clientId)) return { kind: 'refresh' };
  const parts = topic.split('/');
  if (
    parts.length === 5 &&
    parts[0] === 'prov' &&
    parts[1] === clientId &&
    parts[2] === 'operations' &&
    parts[3] &&
    parts[4] === 'poll'
  ) {
    return { kind: 'poll', operationId: parts[3] };
  }
  return undefined;
}
