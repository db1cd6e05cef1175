/**
 * The REST calls of the Integrations screen (webhooks, MQTT bridges, alert rules and alerts), typed by
 * the API's own schemas like the rest of `api.ts`, and kept beside it so that each screen adds its
 * calls without touching the others'.
 */
import { call, id, query, type Answer, type Body, type Query } from '../shared/api.js';

export type Webhook = Answer<'getWebhook'>;
export type WebhookCreate = Body<'createWebhook'>;
export type WebhookWithSecret = Answer<'createWebhook'>;
export type Delivery = Answer<'listWebhookDeliveries'>['items'][number];
export type DeliveryPage = Answer<'listWebhookDeliveries'>;
export type DeliveryStatus = Delivery['status'];
export type DeliveryDetail = Answer<'getWebhookDelivery'>;
export type EventType = Webhook['eventTypes'][number];
export type Bridge = Answer<'getBridge'>;
export type BridgeCreate = Body<'createBridge'>;
export type AlertRule = Answer<'getAlertRule'>;
export type AlertRuleInput = Body<'createAlertRule'>;
export type Alert = Answer<'getAlert'>;
export type AlertPage = Answer<'listAlerts'>;

const hook = (webhookId: string) => `/v1/webhooks/${id(webhookId)}`;

export const integrationsApi = {
  listWebhooks: () => call<Answer<'listWebhooks'>>('GET', '/v1/webhooks'),
  createWebhook: (body: WebhookCreate) => call<WebhookWithSecret>('POST', '/v1/webhooks', body),
  /** Enables or disables it; enabling makes it answer the challenge again. */
  setWebhookEnabled: (webhookId: string, enabled: boolean) =>
    call<Webhook>('PATCH', hook(webhookId), { enabled } satisfies Body<'updateWebhook'>),
  deleteWebhook: (webhookId: string) => call<undefined>('DELETE', hook(webhookId)),
  verifyWebhook: (webhookId: string) => call<Webhook>('POST', `${hook(webhookId)}/verify`),
  rotateWebhookSecret: (webhookId: string, body: Body<'rotateWebhookSecret'>) =>
    call<WebhookWithSecret>('POST', `${hook(webhookId)}/rotate-secret`, body),
  listDeliveries: (webhookId: string, q: Query<'listWebhookDeliveries'>) =>
    call<DeliveryPage>('GET', `${hook(webhookId)}/deliveries${query(q)}`),
  getDelivery: (webhookId: string, deliveryId: string) =>
    call<DeliveryDetail>('GET', `${hook(webhookId)}/deliveries/${id(deliveryId)}`),
  replayDelivery: (webhookId: string, deliveryId: string) =>
    call<Delivery>('POST', `${hook(webhookId)}/deliveries/${id(deliveryId)}/replay`),
  replayDeliveries: (webhookId: string, body: Body<'replayWebhookDeliveries'>) =>
    call<Answer<'replayWebhookDeliveries'>>('POST', `${hook(webhookId)}/replay`, body),

  listBridges: () => call<Answer<'listBridges'>>('GET', '/v1/bridges'),
  createBridge: (body: BridgeCreate) => call<Bridge>('POST', '/v1/bridges', body),
  /** Pauses (false) or resumes (true) a bridge: a paused one spools nothing and holds no connection. */
  setBridgeEnabled: (bridgeId: string, enabled: boolean) =>
    call<Bridge>('PATCH', `/v1/bridges/${id(bridgeId)}`, { enabled } satisfies Body<'updateBridge'>),
  deleteBridge: (bridgeId: string) => call<undefined>('DELETE', `/v1/bridges/${id(bridgeId)}`),

  listAlertRules: () => call<Answer<'listAlertRules'>>('GET', '/v1/alert-rules'),
  createAlertRule: (body: AlertRuleInput) => call<AlertRule>('POST', '/v1/alert-rules', body),
  deleteAlertRule: (ruleId: string) => call<undefined>('DELETE', `/v1/alert-rules/${id(ruleId)}`),
  listAlerts: (q: Query<'listAlerts'>) => call<AlertPage>('GET', `/v1/alerts${query(q)}`),
  acknowledgeAlert: (alertId: string) =>
    call<Alert>('POST', `/v1/alerts/${id(alertId)}/acknowledge`, {} satisfies Body<'acknowledgeAlert'>),
  resolveAlert: (alertId: string) =>
    call<Alert>('POST', `/v1/alerts/${id(alertId)}/resolve`, {} satisfies Body<'resolveAlert'>),
};
