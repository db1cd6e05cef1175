/**
 * The desired-configuration feed: once a device subscribes to `d/{id}/config/desired`, the patch from
 * the desired version it last acknowledged to the current one is pushed at QoS 1, and again after
 * every change (`config.changed`). An item's id names the target and base versions, so a newer
 * version, or the same one from a newer acknowledgement, is a new item; nothing is pushed to a device
 * that acknowledged the current version (unless it asked for the whole document).
 */
import { topics, type DesiredConfigMessage } from '@mooring/protocol';
import type { ConfigService } from '../../../domains/config/config.js';
import type { FeedDefinition } from '../feeds.js';

export const CONFIG_FEED = 'config';

export function configFeed(
  config: Pick<ConfigService, 'pushFor'>,
): FeedDefinition<{ id: string; message: DesiredConfigMessage }> {
  return {
    name: CONFIG_FEED,
    kind: 'config',
    topicFilter: topics.configDesired,
    openFor: async (device, { after }) => {
      const message = await config.pushFor(device);
      if (!message) return [];
      // Ids compare as strings in the pump's paging; there is one item at most, so `after` ends it.
      const id = `${message.version}.${message.baseVersion}`;
      return after === undefined ? [{ id, message }] : [];
    },
    idOf: (m) => m.id,
    topicOf: (topicId) => topics.configDesired(topicId),
    payloadOf: (m) => Buffer.from(JSON.stringify(m.message)),
    qos: 1,
  };
}
