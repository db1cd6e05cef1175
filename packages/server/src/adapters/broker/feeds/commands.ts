/**
 * The command feed: a device's open commands (pending or delivered, unexpired, no result), pushed at
 * QoS 1 on `d/{id}/commands/{commandId}` once it subscribes to `d/{id}/commands/+`, and again when a
 * command is created (`command.created`). A pending command becomes delivered once written.
 */
import { topics, type CommandMessage } from '@mooring/protocol';
import type { Command, CommandService } from '../../../domains/commands/commands.js';
import type { FeedDefinition } from '../feeds.js';

export const COMMAND_FEED = 'commands';

export function commandFeed(commands: CommandService): FeedDefinition<Command> {
  return {
    name: COMMAND_FEED,
    kind: 'command',
    topicFilter: topics.commandsFilter,
    openFor: (device, { after, limit }) =>
      commands.openForDevice(device, { ...(after !== undefined ? { afterId: after } : {}), limit }),
    idOf: (c) => c.id,
    topicOf: (topicId, c) => topics.command(topicId, c.id),
    payloadOf(c) {
      const message: CommandMessage = {
        id: c.id,
        name: c.name,
        params: c.params,
        expiresAt: new Date(c.expiresAt).toISOString(),
      };
      return Buffer.from(JSON.stringify(message));
    },
    qos: 1,
    sent: (device, c) => (c.status === 'pending' ? commands.markDelivered(device, [c.id]) : undefined),
  };
}
