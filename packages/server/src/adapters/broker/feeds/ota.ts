/**
 * The OTA feed: a device's open offer (its operation between offered and rebooting) and the cancels
 * it has not acknowledged, pushed at QoS 1 on `d/{id}/ota/{operationId}` once it subscribes to
 * `d/{id}/ota/+`, and again when they change (`ota.changed`). An item's id names the operation, the
 * attempt and the kind, so a retry's offer is a new item and a cancel follows its offer.
 */
import { topics, type OtaMessage } from '@mooring/protocol';
import type { OtaDeviceService } from '../../../domains/deployments/deployments.js';
import type { FeedDefinition } from '../feeds.js';

export const OTA_FEED = 'ota';

export function otaFeed(ota: OtaDeviceService): FeedDefinition<{ id: string; message: OtaMessage }> {
  return {
    name: OTA_FEED,
    kind: 'ota',
    topicFilter: topics.otaFilter,
    // A device has one open operation and a few cancels at most: one read, cut to the page.
    openFor: async (device, { after, limit }) =>
      (await ota.messagesFor(device))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .filter((m) => after === undefined || m.id > after)
        .slice(0, limit),
    idOf: (m) => m.id,
    topicOf: (topicId, m) => topics.ota(topicId, m.message.operationId),
    payloadOf: (m) => Buffer.from(JSON.stringify(m.message)),
    qos: 1,
  };
}
