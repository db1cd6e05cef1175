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
import type { DeviceSession } from '../session.js';

export const CONFIG_FEED = 'config';

/**
 * What each connection has said: the desired version it acknowledged (set before the PUBACK of that
 * acknowledgement leaves) and whether it asked for the whole document since. A pass that read the
 * twin before an acknowledgement committed would otherwise write, after that PUBACK, a patch to a
 * version the device has just acknowledged.
 */
const said = new WeakMap<DeviceSession, { acknowledged: number; wantsWhole: boolean }>();

export function noteAcknowledged(session: DeviceSession, version: number): void {
  const s = said.get(session);
  if (s && s.acknowledged >= version) return;
  said.set(session, { acknowledged: version, wantsWhole: false });
}

export function noteWholeRequested(session: DeviceSession): void {
  said.set(session, { acknowledged: said.get(session)?.acknowledged ?? 0, wantsWhole: true });
}

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
    stale: (session, m) => {
      const s = said.get(session);
      if (!s || m.message.version > s.acknowledged) return false;
      return !(m.message.baseVersion === 0 && s.wantsWhole);
    },
    idOf: (m) => m.id,
    topicOf: (topicId) => topics.configDesired(topicId),
    payloadOf: (m) => Buffer.from(JSON.stringify(m.message)),
    qos: 1,
  };
}
