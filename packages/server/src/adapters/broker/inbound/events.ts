/** `d/{id}/events`: alarms, logs and failure reports, stored like telemetry before the PUBACK. */
import { topics } from '@mooring/protocol';
import type { TelemetryService } from '../../../domains/telemetry/telemetry.js';
import type { InboundRoute } from './router.js';

export function eventsRoute(telemetry: TelemetryService): InboundRoute {
  return {
    pattern: topics.events('{deviceId}'),
    kind: 'event',
    handle: (m) => telemetry.ingestEvent(m.session.device, m.payload, m.received),
  };
}
