/**
 * `d/{id}/commands/{commandId}/result`: a device answers a command. A result for an unknown or
 * finished command is refused with the command service's code (`COMMAND_NOT_FOUND`,
 * `COMMAND_NOT_OPEN`), acknowledged and explained on `d/{id}/errors`.
 */
import { parseCommandResult, topics } from '@mooring/protocol';
import { isAppError } from '../../../errors.js';
import type { CommandService } from '../../../domains/commands/commands.js';
import type { InboundRoute } from './router.js';

export function commandResultsRoute(commands: CommandService): InboundRoute {
  return {
    pattern: topics.commandResult('{deviceId}', '{commandId}'),
    kind: 'command_result',
    handle(m, refuse) {
      const result = parseCommandResult(m.payload);
      if (!result.ok) return refuse(m, 'VALIDATION_FAILED', result.message, 'invalid_payload');
      return commands
        .reportResult(m.session.device, m.params.commandId!, result.value)
        .catch((err: unknown) => {
          if (isAppError(err)) return refuse(m, err.code, err.message, 'command_result_refused');
          throw err;
        });
    },
  };
}
