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
 * The filters a device may subscribe to: exactly its command filter `d/{id}/commands/+` and its error
 * topic. Anything else (`#`, `d/+/…`, another device, a single command id) is refused.
 */
export function isAllowedDeviceSubscription(deviceId: string, filter: string): boolean {
  return filter === topics.commandsFilter(deviceId) || filter === topics.errors(deviceId);
}
