/**
 * `d/{id}/config/reported`: a device acknowledges the desired version it applied and/or changes its
 * reported configuration; `d/{id}/config/get`: a device that holds no usable desired document asks
 * for the whole one. Both are stored before the PUBACK; a report the twin refuses (past the current
 * version, over a limit) is acknowledged and explained on `d/{id}/errors`.
 */
import { topics } from '@mooring/protocol';
import { isAppError } from '../../../errors.js';
import type { ConfigService } from '../../../domains/config/config.js';
import { noteAcknowledged, noteWholeRequested } from '../feeds/config.js';
import type { InboundRoute } from './router.js';

export function configReportedRoute(config: Pick<ConfigService, 'report'>): InboundRoute {
  return {
    pattern: topics.configReported('{deviceId}'),
    kind: 'config_reported',
    handle: (m, refuse) =>
      config.report(m.session.device, m.payload, m.received).then(
        // Before the PUBACK leaves: nothing at or below this version is written to the device after it.
        (answer) => noteAcknowledged(m.session, answer.acknowledgedVersion),
        (err: unknown) => {
          if (isAppError(err))
            return refuse(m, err.code, err.message, 'config_report_refused', err.errors?.[0]?.path);
          throw err;
        },
      ),
  };
}

export function configGetRoute(config: Pick<ConfigService, 'requestFull'>): InboundRoute {
  return {
    pattern: topics.configGet('{deviceId}'),
    kind: 'config_get',
    handle: (m) => {
      noteWholeRequested(m.session);
      return config.requestFull(m.session.device);
    },
  };
}
