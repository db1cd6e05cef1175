/** `d/{id}/telemetry`: readings, stored by the telemetry service's group commit before the PUBACK. */
import { topics } from '@mooring/protocol';
import type { TelemetryService } from '../../../domains/telemetry/telemetry.js';
import type { InboundRoute } from './router.js';

export function telemetryRoute(telemetry: TelemetryService): InboundRoute {
  return {
    pattern: topics.telemetry('{deviceId}'),
    kind: 'telemetry',
    // Hot path: one call, no wrapper promise; the service validates synchronously (an AppError
    // thrown here is a refusal) and resolves when the message's batch has committed.
    handle: (m) => telemetry.ingest(m.session.device, m.payload, m.received),
  };
}
