/**
 * The configuration twin over REST: read a device's twin, patch its desired document (JSON Merge
 * Patch, `If-Match: <version>`), its history, and the tenant's configuration schemas. The device side
 * (long poll and report) is here too, under `/v1/device/config`.
 */
import type {
  ConfigHistoryQuery,
  ConfigSchemaCreate,
  ConfigSchemaParams,
  ConfigSchemaPut,
  DesiredPollQuery,
  DeviceParams,
  IfMatchHeaders,
} from '@mooring/protocol';
import { deviceOf, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

/** `If-Match: "12"`, `12` or `W/"12"`: the version; the header's schema already checked the form. */
const versionOf = (header: string | undefined) =>
  header === undefined ? undefined : Number(header.replace(/^W\//, '').replaceAll('"', ''));

/** Longest device long poll when the device gives no `waitSeconds`. */
const DEFAULT_WAIT_SECONDS = 30;

/** The documented schema feeds OpenAPI; validation is the twin's own (limits named, as over MQTT). */
const parsedByTwin = { validatorCompiler: () => () => true };

export const configRoutes: RoutePlugin = (app, { services, metrics }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['config'];
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/config',
    {
      config,
      schema: { ...api('getDeviceConfig', config.auth), tags, summary: "Read a device's configuration twin" },
    },
    async (request, reply) => {
      const twin = await services.config.get(tenantCaller(request), request.params.deviceId);
      return reply.header('etag', `"${twin.desired.version}"`).send(twin);
    },
  );
  app.patch<{ Params: typeof DeviceParams.static; Headers: typeof IfMatchHeaders.static }>(
    '/v1/devices/:deviceId/config/desired',
    {
      config,
      schema: {
        ...api('patchDesiredConfig', config.auth),
        tags,
        summary: 'Change the desired configuration (JSON Merge Patch; If-Match: the version it is based on)',
      },
    },
    async (request, reply) => {
      const ifMatch = versionOf(request.headers['if-match']);
      const twin = await services.config.setDesired(
        tenantCaller(request),
        request.params.deviceId,
        request.body,
        ifMatch === undefined ? {} : { ifMatch },
      );
      return reply.header('etag', `"${twin.desired.version}"`).send(twin);
    },
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof ConfigHistoryQuery.static }>(
    '/v1/devices/:deviceId/config/history',
    {
      config,
      schema: {
        ...api('listConfigHistory', config.auth),
        tags,
        summary: 'Configuration changes, newest first',
      },
    },
    async (request) => services.config.history(tenantCaller(request), request.params.deviceId, request.query),
  );
  app.get(
    '/v1/config-schemas',
    {
      config,
      schema: { ...api('listConfigSchemas', config.auth), tags, summary: 'List configuration schemas' },
    },
    async (request) => ({ items: await services.config.listSchemas(tenantCaller(request)) }),
  );
  app.post<{ Body: typeof ConfigSchemaCreate.static }>(
    '/v1/config-schemas',
    {
      config,
      schema: {
        ...api('createConfigSchema', config.auth),
        tags,
        summary: 'Create a JSON Schema checked on desired writes of the devices with a tag',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.config.createSchema(tenantCaller(request), request.body)),
  );
  app.put<{ Params: typeof ConfigSchemaParams.static; Body: typeof ConfigSchemaPut.static }>(
    '/v1/config-schemas/:schemaName',
    {
      config,
      schema: {
        ...api('putConfigSchema', config.auth),
        tags,
        summary: "Replace a configuration schema's tag and JSON Schema",
      },
    },
    async (request) =>
      services.config.updateSchema(tenantCaller(request), request.params.schemaName, request.body),
  );
  app.delete<{ Params: typeof ConfigSchemaParams.static }>(
    '/v1/config-schemas/:schemaName',
    {
      config,
      schema: { ...api('deleteConfigSchema', config.auth), tags, summary: 'Delete a configuration schema' },
    },
    async (request, reply) => {
      await services.config.deleteSchema(tenantCaller(request), request.params.schemaName);
      return reply.code(204).send();
    },
  );

  const device = { auth: 'device' as const };
  app.get<{ Querystring: typeof DesiredPollQuery.static }>(
    '/v1/device/config/desired',
    {
      config: device,
      schema: {
        ...api('pollDesiredConfig', device.auth),
        tags: ['device-api'],
        summary:
          'The desired configuration from the version the device holds: 200 with a patch once it is later, 204 when it did not change within waitSeconds',
      },
    },
    async (request, reply) => {
      const gone = new AbortController();
      const onClose = () => gone.abort();
      request.raw.once('close', onClose);
      try {
        const message = await services.config.pollDesired(
          deviceOf(request),
          request.query.version ?? 0,
          (request.query.waitSeconds ?? DEFAULT_WAIT_SECONDS) * 1000,
          gone.signal,
        );
        if (!message) return reply.code(204).send();
        metrics.messagesOut.inc({ kind: 'config' });
        return message;
      } finally {
        request.raw.off('close', onClose);
      }
    },
  );
  app.post(
    '/v1/device/config/reported',
    {
      config: device,
      ...parsedByTwin,
      schema: {
        ...api('reportConfig', device.auth),
        tags: ['device-api'],
        summary: 'Acknowledge the desired version applied and/or change the reported configuration',
      },
    },
    async (request) => {
      const answer = await services.config.report(deviceOf(request), request.body);
      metrics.messagesIn.inc({ transport: 'https', kind: 'config_reported' });
      return answer;
    },
  );
};
