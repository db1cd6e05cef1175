/**
 * `d/{id}/ota/{operationId}/progress`: a device reports a step of its OTA operation. A report that
 * does not follow the operation (another attempt, an ended or cancelled operation, a step backwards)
 * is refused with the deployment service's code (`OTA_OPERATION_NOT_OPEN`, `OTA_OPERATION_NOT_FOUND`),
 * acknowledged and explained on `d/{id}/errors`.
 */
import { topics } from '@mooring/protocol';
import { isAppError } from '../../../errors.js';
import type { OtaDeviceService } from '../../../domains/deployments/deployments.js';
import type { InboundRoute } from './router.js';

export function otaProgressRoute(ota: OtaDeviceService): InboundRoute {
  return {
    pattern: topics.otaProgress('{deviceId}', '{operationId}'),
    kind: 'ota_progress',
    handle(m, refuse) {
      // A payload that is not a report throws synchronously: the broker refuses it as invalid.
      return ota.report(m.session.device, m.params.operationId!, m.payload).catch((err: unknown) => {
        if (isAppError(err)) return refuse(m, err.code, err.message, 'ota_report_refused');
        throw err;
      });
    },
  };
}
