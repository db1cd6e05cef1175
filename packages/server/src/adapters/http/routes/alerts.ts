/**
 * Alert rules and alerts (`docs/alerts.md`): the tenant's rules (create, list, show, replace, delete),
 * its alerts (list with filters, show), and acknowledging or resolving one by hand.
 */
import type {
  AlertAction,
  AlertListQuery,
  AlertParams,
  AlertRuleInput,
  AlertRuleParams,
} from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const alertRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['alerts'];
  const alerts = services.alerts;

  app.get(
    '/v1/alert-rules',
    { config, schema: { ...api('listAlertRules', config.auth), tags, summary: "The tenant's alert rules" } },
    async (request) => ({ items: await alerts.listRules(tenantCaller(request)) }),
  );
  app.post<{ Body: typeof AlertRuleInput.static }>(
    '/v1/alert-rules',
    {
      config,
      schema: {
        ...api('createAlertRule', config.auth),
        tags,
        summary:
          'Create an alert rule: a threshold on a telemetry key, or the absence of telemetry or presence',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await alerts.createRule(tenantCaller(request), request.body)),
  );
  app.get<{ Params: typeof AlertRuleParams.static }>(
    '/v1/alert-rules/:ruleId',
    { config, schema: { ...api('getAlertRule', config.auth), tags, summary: 'An alert rule' } },
    async (request) => alerts.getRule(tenantCaller(request), request.params.ruleId),
  );
  app.put<{ Params: typeof AlertRuleParams.static; Body: typeof AlertRuleInput.static }>(
    '/v1/alert-rules/:ruleId',
    {
      config,
      schema: {
        ...api('putAlertRule', config.auth),
        tags,
        summary:
          'Replace an alert rule (a new condition or target, or disabling it, resolves its open alerts)',
      },
    },
    async (request) => alerts.updateRule(tenantCaller(request), request.params.ruleId, request.body),
  );
  app.delete<{ Params: typeof AlertRuleParams.static }>(
    '/v1/alert-rules/:ruleId',
    {
      config,
      schema: {
        ...api('deleteAlertRule', config.auth),
        tags,
        summary: 'Delete an alert rule (its open alerts are resolved; its alerts are kept)',
      },
    },
    async (request, reply) => {
      await alerts.deleteRule(tenantCaller(request), request.params.ruleId);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: typeof AlertListQuery.static }>(
    '/v1/alerts',
    {
      config,
      schema: {
        ...api('listAlerts', config.auth),
        tags,
        summary: 'Alerts, newest first; filter by state (or open), device and rule',
      },
    },
    async (request) => alerts.list(tenantCaller(request), request.query),
  );
  app.get<{ Params: typeof AlertParams.static }>(
    '/v1/alerts/:alertId',
    { config, schema: { ...api('getAlert', config.auth), tags, summary: 'An alert' } },
    async (request) => alerts.get(tenantCaller(request), request.params.alertId),
  );
  app.post<{ Params: typeof AlertParams.static; Body: typeof AlertAction.static }>(
    '/v1/alerts/:alertId/acknowledge',
    {
      config,
      schema: {
        ...api('acknowledgeAlert', config.auth),
        tags,
        summary: 'Acknowledge a firing alert (it still resolves when its rule clears)',
      },
    },
    async (request) => alerts.acknowledge(tenantCaller(request), request.params.alertId),
  );
  app.post<{ Params: typeof AlertParams.static; Body: typeof AlertAction.static }>(
    '/v1/alerts/:alertId/resolve',
    {
      config,
      schema: {
        ...api('resolveAlert', config.auth),
        tags,
        summary: "Resolve an open alert by hand (the rule's timer for the device starts again)",
      },
    },
    async (request) => alerts.resolve(tenantCaller(request), request.params.alertId),
  );
};
