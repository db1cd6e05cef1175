/**
 * The catalogue of platform events: what webhooks and the MQTT bridge carry to a customer's own
 * systems (docs/integrations.md). Each is produced from an outbox fact written in the same transaction
 * as the change it describes, so an event exists exactly when its change does, and is delivered at
 * least once: receivers deduplicate by `id`.
 */

export const PLATFORM_EVENT_TYPES = [
  'device.connected',
  'device.disconnected',
  'device.deleted',
  'provisioning.decided',
  'telemetry.batch',
  'device.event',
  'command.result',
  'config.desired.changed',
  'config.reported.changed',
  'certificate.issued',
  'certificate.revoked',
  'credential.revoked',
  'ota.operation.changed',
  'deployment.status.changed',
  'alert.fired',
  'alert.acknowledged',
  'alert.resolved',
] as const;
export type PlatformEventType = (typeof PLATFORM_EVENT_TYPES)[number];

export const isPlatformEventType = (v: unknown): v is PlatformEventType =>
  typeof v === 'string' && (PLATFORM_EVENT_TYPES as readonly string[]).includes(v);

/** One event as delivered: the body of a webhook request and of a bridged MQTT message. */
export interface PlatformEvent<T = Record<string, unknown>> {
  /** `evt_…`, stable across redeliveries: deduplicate by it. */
  id: string;
  type: PlatformEventType;
  tenantId: string;
  /** The device it is about, when it is about one. */
  deviceId: string | null;
  /** When the change happened, UTC milliseconds. */
  occurredAt: number;
  data: T;
}
