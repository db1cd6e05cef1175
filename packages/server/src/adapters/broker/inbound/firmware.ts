/** `d/{id}/state/firmware`: the firmware a device runs, stored before the PUBACK. */
import { topics } from '@mooring/protocol';
import type { FleetService } from '../../../domains/fleet/fleet.js';
import type { InboundRoute } from './router.js';

export function firmwareRoute(fleet: FleetService): InboundRoute {
  return {
    pattern: topics.firmware('{deviceId}'),
    kind: 'firmware',
    handle: (m) => fleet.report(m.session.device, m.payload, m.received),
  };
}
