/**
 * Deployments (`docs/ota.md`): create, list, show, the devices of one, pause, resume, abort, stop,
 * cancel one device, the tenant's emergency stop; and the device side (offers and progress reports).
 */
import type {
  DeploymentAction,
  DeploymentCreate,
  DeploymentDeviceParams,
  DeploymentDevicesQuery,
  DeploymentListQuery,
  DeploymentParams,
  OtaOperationParams,
  OtaReport,
} from '@mooring/protocol';
import { deviceOf, tenantCaller, type RoutePlugin } from '../context.js';
import type { ApiOperationName } from '@mooring/protocol';
import { api } from '../openapi.js';

type Action = 'pause' | 'resume' | 'abort' | 'stop';
const ACTIONS: [Action, ApiOperationName, string][] = [
  ['pause', 'pauseDeployment', 'Pause: no new offers; devices already offered go on'],
  ['resume', 'resumeDeployment', 'Resume a paused deployment (not while the emergency stop holds)'],
  [
    'abort',
    'abortDeployment',
    'Abort: no new offers; devices that have not begun installing are told to cancel',
  ],
  ['stop', 'stopDeployment', 'Emergency stop of one deployment: as abort, at once, and idempotent'],
];

export const deploymentRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['deployments'];
  const deployments = services.deployments;
  app.post<{ Body: typeof DeploymentCreate.static }>(
    '/v1/deployments',
    {
      config,
      schema: {
        ...api('createDeployment', config.auth),
        tags,
        summary: 'Roll an artifact out to the devices a target names, in phases gated on status and health',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await deployments.create(tenantCaller(request), request.body)),
  );
  app.get<{ Querystring: typeof DeploymentListQuery.static }>(
    '/v1/deployments',
    {
      config,
      schema: { ...api('listDeployments', config.auth), tags, summary: 'List deployments, newest first' },
    },
    async (request) => deployments.list(tenantCaller(request), request.query),
  );
  // Registered before /v1/deployments/:deploymentId so that the literal path wins.
  app.get(
    '/v1/deployments/emergency-stop',
    {
      config,
      schema: { ...api('getEmergencyStop', config.auth), tags, summary: "The tenant's OTA emergency stop" },
    },
    async (request) => deployments.emergencyStop(tenantCaller(request)),
  );
  app.post<{ Body: typeof DeploymentAction.static }>(
    '/v1/deployments/emergency-stop',
    {
      config,
      schema: {
        ...api('setEmergencyStop', config.auth),
        tags,
        summary: 'Stop every running deployment of the tenant and keep new ones from starting until lifted',
      },
    },
    async (request) => deployments.setEmergencyStop(tenantCaller(request), request.body?.reason),
  );
  app.delete(
    '/v1/deployments/emergency-stop',
    {
      config,
      schema: {
        ...api('liftEmergencyStop', config.auth),
        tags,
        summary: 'Lift the emergency stop (stopped deployments stay stopped)',
      },
    },
    async (request) => deployments.liftEmergencyStop(tenantCaller(request)),
  );
  app.get<{ Params: typeof DeploymentParams.static }>(
    '/v1/deployments/:deploymentId',
    {
      config,
      schema: {
        ...api('getDeployment', config.auth),
        tags,
        summary: 'A deployment: phase, counts per state, executions, the health comparison',
      },
    },
    async (request) => deployments.get(tenantCaller(request), request.params.deploymentId),
  );
  app.get<{ Params: typeof DeploymentParams.static; Querystring: typeof DeploymentDevicesQuery.static }>(
    '/v1/deployments/:deploymentId/devices',
    {
      config,
      schema: {
        ...api('listDeploymentDevices', config.auth),
        tags,
        summary: "The deployment's devices and their operations, in rollout order",
      },
    },
    async (request) => deployments.devices(tenantCaller(request), request.params.deploymentId, request.query),
  );
  for (const [action, operation, summary] of ACTIONS) {
    app.post<{ Params: typeof DeploymentParams.static; Body: typeof DeploymentAction.static }>(
      `/v1/deployments/:deploymentId/${action}`,
      { config, schema: { ...api(operation, config.auth), tags, summary } },
      async (request) =>
        deployments[action](tenantCaller(request), request.params.deploymentId, request.body?.reason),
    );
  }
  app.post<{ Params: typeof DeploymentDeviceParams.static; Body: typeof DeploymentAction.static }>(
    '/v1/deployments/:deploymentId/devices/:deviceId/cancel',
    {
      config,
      schema: {
        ...api('cancelDeploymentDevice', config.auth),
        tags,
        summary: "Cancel one device's operation (a device not yet installing is told to cancel)",
      },
    },
    async (request) =>
      deployments.cancelDevice(
        tenantCaller(request),
        request.params.deploymentId,
        request.params.deviceId,
        request.body?.reason,
      ),
  );

  const device = { auth: 'device' as const };
  app.get(
    '/v1/device/ota',
    {
      config: device,
      schema: {
        ...api('fetchOta', device.auth),
        tags: ['device-api'],
        summary: 'The open OTA offer and unacknowledged cancels (as on d/{id}/ota/+)',
      },
    },
    async (request) => ({ items: (await services.ota.messagesFor(deviceOf(request))).map((m) => m.message) }),
  );
  app.post<{ Params: typeof OtaOperationParams.static; Body: OtaReport }>(
    '/v1/device/ota/:operationId/progress',
    {
      config: device,
      schema: {
        ...api('reportOtaProgress', device.auth),
        tags: ['device-api'],
        summary: 'Report a step of an OTA operation (as on d/{id}/ota/{operationId}/progress)',
      },
    },
    async (request) => services.ota.report(deviceOf(request), request.params.operationId, request.body),
  );
};
