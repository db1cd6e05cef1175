/** The device registry: devices, their access keys, and their presence history. */
import type {
  AccessKeyParams,
  DeviceBulkJobParams,
  DeviceBulkRequest,
  DeviceCreate,
  DeviceListQuery,
  DeviceParams,
  DeviceUpdate,
  PresenceQuery,
} from '@mooring/protocol';
import type { DeviceBulkAccepted } from '../../../domains/devices/devices.js';
import { idempotent } from '../idempotency.js';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const deviceRoutes: RoutePlugin = (app, { services, db }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['devices'];

  app.post<{ Body: typeof DeviceCreate.static }>(
    '/v1/devices',
    {
      config,
      schema: {
        ...api('createDevice', config.auth),
        tags,
        summary: 'Register a device (accepts Idempotency-Key)',
      },
    },
    async (request, reply) =>
      idempotent(db, request, reply, 201, () => services.devices.create(tenantCaller(request), request.body)),
  );
  app.get<{ Querystring: typeof DeviceListQuery.static }>(
    '/v1/devices',
    {
      config,
      schema: {
        ...api('listDevices', config.auth),
        tags,
        summary: 'List devices (cursor pagination; filter by tag, status, connected)',
      },
    },
    async (request) => services.devices.list(tenantCaller(request), request.query),
  );
  app.post<{ Body: typeof DeviceBulkRequest.static }>(
    '/v1/devices/bulk',
    {
      config,
      schema: {
        ...api('bulkDevices', config.auth),
        tags,
        summary:
          'Act on every device a filter matches (add or remove tags, disable, enable; revoke or set the desired configuration as a job, 202), or count them first (dryRun); one audit record',
      },
    },
    async (request, reply) => {
      const caller = tenantCaller(request);
      const { action } = request.body;
      const result =
        action.type === 'revoke'
          ? await services.deviceBulk.revoke(caller, request.body)
          : action.type === 'setDesiredConfig'
            ? await services.deviceBulk.setDesiredConfig(caller, request.body)
            : await services.devices.bulk(caller, request.body);
      // The request's audit record holds the counts and the job it started, besides the request.
      const { dryRun, matched, wouldChange, changed } = result;
      const job = 'job' in result ? (result as DeviceBulkAccepted).job : undefined;
      request.auditResult = { dryRun, matched, wouldChange, changed, ...(job ? { jobId: job.id } : {}) };
      return job ? reply.code(202).send(result) : result;
    },
  );
  app.get<{ Params: typeof DeviceBulkJobParams.static }>(
    '/v1/devices/bulk/:jobId',
    {
      config,
      schema: {
        ...api('getDeviceBulkJob', config.auth),
        tags,
        summary: 'A bulk job: its status and progress (matched, processed, changed, skipped)',
      },
    },
    async (request) => services.deviceBulk.get(tenantCaller(request), request.params.jobId),
  );
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId',
    {
      config,
      schema: {
        ...api('getDevice', config.auth),
        tags,
        summary: 'Get a device with its presence',
      },
    },
    async (request) => services.devices.get(tenantCaller(request), request.params.deviceId),
  );
  app.patch<{ Params: typeof DeviceParams.static; Body: typeof DeviceUpdate.static }>(
    '/v1/devices/:deviceId',
    {
      config,
      schema: {
        ...api('updateDevice', config.auth),
        tags,
        summary: 'Update name, tags, metadata or status (disabling drops live sessions)',
      },
    },
    async (request) => services.devices.update(tenantCaller(request), request.params.deviceId, request.body),
  );
  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'enabled'],
  ] as const) {
    app.post<{ Params: typeof DeviceParams.static }>(
      `/v1/devices/:deviceId/${action}`,
      {
        config,
        schema: {
          ...api(action === 'disable' ? 'disableDevice' : 'enableDevice', config.auth),
          tags,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a device`,
        },
      },
      async (request) => services.devices.update(tenantCaller(request), request.params.deviceId, { status }),
    );
  }
  app.delete<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId',
    {
      config,
      schema: {
        ...api('deleteDevice', config.auth),
        tags,
        summary: 'Delete a device with its keys, commands and data',
      },
    },
    async (request, reply) => {
      await services.devices.delete(tenantCaller(request), request.params.deviceId);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/access-keys',
    {
      config,
      schema: {
        ...api('createAccessKey', config.auth),
        tags,
        summary: 'Issue a device access key (secret shown once)',
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await services.devices.createAccessKey(tenantCaller(request), request.params.deviceId)),
  );
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/access-keys',
    {
      config,
      schema: {
        ...api('listAccessKeys', config.auth),
        tags,
        summary: "List a device's access keys (no secrets)",
      },
    },
    async (request) => ({
      items: await services.devices.listAccessKeys(tenantCaller(request), request.params.deviceId),
    }),
  );
  app.delete<{ Params: typeof AccessKeyParams.static }>(
    '/v1/devices/:deviceId/access-keys/:keyId',
    {
      config,
      schema: {
        ...api('revokeAccessKey', config.auth),
        tags,
        summary: 'Revoke an access key (drops sessions that used it)',
      },
    },
    async (request, reply) => {
      await services.devices.revokeAccessKey(
        tenantCaller(request),
        request.params.deviceId,
        request.params.keyId,
      );
      return reply.code(204).send();
    },
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof PresenceQuery.static }>(
    '/v1/devices/:deviceId/presence',
    {
      config,
      schema: {
        ...api('getPresence', config.auth),
        tags,
        summary: 'Connect and disconnect history, newest first',
      },
    },
    async (request) => ({
      items: await services.presence.history(
        tenantCaller(request),
        request.params.deviceId,
        request.query.limit ?? 50,
      ),
    }),
  );
};
