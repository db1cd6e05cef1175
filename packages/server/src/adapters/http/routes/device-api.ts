/**
 * The HTTPS device API: what a device does over MQTT, for devices that speak only HTTPS. Bodies go
 * through the same parsers as MQTT payloads, so both paths refuse the same input with the same code;
 * a 2xx is sent only after the data is committed.
 */
import { TELEMETRY_LIMITS, parseCommandResult, type DeviceCommandParams } from '@mooring/protocol';
import { AppError } from '../../../errors.js';
import { deviceOf, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

/** The documented schema feeds OpenAPI; validation is the shared protocol parser. */
const parsedByProtocol = { validatorCompiler: () => () => true };

export const deviceApiRoutes: RoutePlugin = (app, { services, metrics }) => {
  const config = { auth: 'device' as const };
  const tags = ['device-api'];
  app.post(
    '/v1/device/telemetry',
    {
      config,
      bodyLimit: TELEMETRY_LIMITS.maxPayloadBytes,
      ...parsedByProtocol,
      schema: {
        ...api('sendTelemetry', config.auth),
        tags,
        summary: 'Send telemetry (acknowledged once committed)',
      },
    },
    async (request, reply) => {
      const stored = await services.telemetry.ingest(deviceOf(request), request.body);
      metrics.messagesIn.inc({ transport: 'https', kind: 'telemetry' });
      return reply.code(202).send({ accepted: stored });
    },
  );
  app.post(
    '/v1/device/events',
    {
      config,
      bodyLimit: TELEMETRY_LIMITS.maxPayloadBytes,
      ...parsedByProtocol,
      schema: {
        ...api('sendEvent', config.auth),
        tags,
        summary: 'Send an event',
      },
    },
    async (request, reply) => {
      await services.telemetry.ingestEvent(deviceOf(request), request.body);
      metrics.messagesIn.inc({ transport: 'https', kind: 'event' });
      return reply.code(202).send({ accepted: 1 });
    },
  );
  app.put(
    '/v1/device/firmware',
    {
      config,
      ...parsedByProtocol,
      schema: {
        ...api('reportFirmware', config.auth),
        tags,
        summary: 'Report the firmware version and hardware class the device runs',
      },
    },
    async (request) => {
      const state = await services.fleet.report(deviceOf(request), request.body);
      metrics.messagesIn.inc({ transport: 'https', kind: 'firmware' });
      return state;
    },
  );
  app.get(
    '/v1/device/commands',
    {
      config,
      schema: {
        ...api('fetchCommands', config.auth),
        tags,
        summary:
          'Fetch open commands (pending or delivered, without a result); at least once: repeat until answered',
      },
    },
    async (request) => {
      const open = await services.commands.fetchForDevice(deviceOf(request));
      metrics.messagesOut.inc({ kind: 'command' }, open.length);
      return {
        items: open.map((c) => ({
          id: c.id,
          name: c.name,
          params: c.params,
          expiresAt: new Date(c.expiresAt).toISOString(),
        })),
      };
    },
  );
  app.post<{ Params: typeof DeviceCommandParams.static }>(
    '/v1/device/commands/:commandId/result',
    {
      config,
      ...parsedByProtocol,
      schema: {
        ...api('reportCommandResult', config.auth),
        tags,
        summary: 'Report a command result',
      },
    },
    async (request) => {
      const parsed = parseCommandResult(request.body);
      if (!parsed.ok) throw new AppError('VALIDATION_FAILED', parsed.message);
      const c = await services.commands.reportResult(
        deviceOf(request),
        request.params.commandId,
        parsed.value,
      );
      metrics.messagesIn.inc({ transport: 'https', kind: 'command_result' });
      return { id: c.id, status: c.status };
    },
  );
};
