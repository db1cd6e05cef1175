/** The operator side of webhooks: endpoints, secrets, verification requests, the delivery log, replays. */
import { X509Certificate } from 'node:crypto';
import type { PlatformEvent } from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import { newId } from '../../ids.js';
import type { TenantCaller } from '../../platform/caller.js';
import { createAddressPolicy } from '../../platform/outbound/address-policy.js';
import { isOutboundError } from '../../platform/outbound/outbound-error.js';
import { checkTargetUrl } from '../../platform/outbound/url-policy.js';
import { generateWebhookSecret } from '../../platform/outbound/webhook-signature.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { whenCommitted } from '../../store/ambient.js';
import type { Transaction } from '../../store/db.js';
import { toDelivery, type EndpointRow, type StoredAuth, type WebhookStore } from './store.js';
import type { Webhook, WebhookAuthInput, WebhookService } from './webhooks.js';

/** Endpoints one tenant may have. */
export const MAX_WEBHOOKS_PER_TENANT = 50;
/** Longest overlap of a rotated-out secret. */
export const MAX_SECRET_OVERLAP_SECONDS = 7 * 86_400;

export interface WebhookDeps {
  store: WebhookStore;
  transaction: Transaction<WebhookStore>;
  box: SecretBox;
  cursors: Cursors;
  /** CIDRs the operator lets outbound connections reach (MOORING_OUTBOUND_ALLOW_LIST). */
  allowList: readonly string[];
  /** The delivery worker should run soon (a verification or a replay is due). */
  nudge(): void;
  now?: () => number;
}

export function toWebhook(r: EndpointRow, now: number): Webhook {
  const a = r.auth;
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    eventTypes: r.event_types,
    deviceTags: r.device_tags,
    auth:
      a.type === 'basic'
        ? { type: 'basic', username: a.username }
        : a.type === 'oauth2'
          ? {
              type: 'oauth2',
              tokenUrl: a.tokenUrl,
              clientId: a.clientId,
              scope: a.scope ?? null,
              audience: a.audience ?? null,
            }
          : { type: 'none' },
    caPem: r.ca_pem,
    status: r.status,
    statusReason: r.status_reason,
    verifiedAt: r.verified_at === null ? null : Number(r.verified_at),
    previousSecretUntil:
      r.previous_until !== null && Number(r.previous_until) > now ? Number(r.previous_until) : null,
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

const isCursor = (v: unknown): v is [number, string] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string';

export function createWebhookService(deps: WebhookDeps): WebhookService {
  const { store, box } = deps;
  // After the request's transaction commits: the worker (and the interest in telemetry) must see it.
  const nudge = () => whenCommitted(() => deps.nudge());
  const now = deps.now ?? Date.now;
  const policy = createAddressPolicy({ allowList: deps.allowList });

  function checkUrl(url: string, path: string): string {
    try {
      return checkTargetUrl(url, { schemes: ['https'], policy }).url.toString();
    } catch (err) {
      if (!isOutboundError(err)) throw err;
      throw new AppError('WEBHOOK_URL_REFUSED', err.message, { errors: [{ path, message: err.message }] });
    }
  }

  function checkCa(pem: string): string {
    try {
      new X509Certificate(pem);
      return pem;
    } catch {
      throw Errors.validation('caPem is not a PEM certificate', [
        { path: '/caPem', message: 'not a PEM certificate' },
      ]);
    }
  }

  function sealAuth(auth: WebhookAuthInput | undefined): StoredAuth {
    if (!auth || auth.type === 'none') return { type: 'none' };
    if (auth.type === 'basic')
      return { type: 'basic', username: auth.username, password: box.seal(auth.password) };
    return {
      type: 'oauth2',
      tokenUrl: checkUrl(auth.tokenUrl, '/auth/tokenUrl'),
      clientId: auth.clientId,
      clientSecret: box.seal(auth.clientSecret),
      ...(auth.scope !== undefined ? { scope: auth.scope } : {}),
      ...(auth.audience !== undefined ? { audience: auth.audience } : {}),
    };
  }

  async function find(caller: TenantCaller, id: string): Promise<EndpointRow> {
    const row = await store.endpoint(caller.tenantId, id);
    if (!row) throw new AppError('WEBHOOK_NOT_FOUND', `webhook ${id} not found`);
    return row;
  }

  /** Changes an endpoint under its row lock. */
  async function change(caller: TenantCaller, id: string, fn: (row: EndpointRow, t: number) => EndpointRow) {
    const t = now();
    const row = await deps.transaction(async (tx) => {
      const current = await tx.endpoint(caller.tenantId, id, true);
      if (!current) throw new AppError('WEBHOOK_NOT_FOUND', `webhook ${id} not found`);
      const next = { ...fn(current, t), updated_at: t };
      await tx.saveEndpoint(next);
      return next;
    });
    nudge();
    return row;
  }

  /** Pending again: the challenge goes out as soon as the worker runs. */
  const reverify = (row: EndpointRow, t: number): EndpointRow => ({
    ...row,
    status: 'pending',
    status_reason: 'waiting for the endpoint to answer the verification challenge',
    verify_due_at: t,
    verify_attempts: 0,
    verified_at: null,
  });

  return {
    async create(caller, input) {
      const url = checkUrl(input.url, '/url');
      const t = now();
      const secret = generateWebhookSecret();
      const row: EndpointRow = {
        id: newId('whk', t),
        tenant_id: caller.tenantId,
        name: input.name,
        url,
        event_types: [...new Set(input.eventTypes)],
        device_tags: [...new Set(input.deviceTags ?? [])],
        auth: sealAuth(input.auth),
        ca_pem: input.caPem === undefined ? null : checkCa(input.caPem),
        secret: box.seal(secret),
        previous_secret: null,
        previous_until: null,
        status: 'pending',
        status_reason: 'waiting for the endpoint to answer the verification challenge',
        verify_due_at: t,
        verify_attempts: 0,
        verified_at: null,
        last_error: null,
        created_at: t,
        updated_at: t,
      };
      await deps.transaction(async (tx) => {
        if ((await tx.countEndpoints(caller.tenantId)) >= MAX_WEBHOOKS_PER_TENANT)
          throw new AppError(
            'WEBHOOK_LIMIT_EXCEEDED',
            `a tenant has at most ${MAX_WEBHOOKS_PER_TENANT} webhooks`,
            {
              details: { limit: 'webhooksPerTenant', max: MAX_WEBHOOKS_PER_TENANT },
            },
          );
        await tx.insertEndpoint(row);
      });
      nudge();
      return { webhook: toWebhook(row, t), secret };
    },

    list: async (caller) => (await store.endpoints(caller.tenantId)).map((r) => toWebhook(r, now())),

    get: async (caller, id) => toWebhook(await find(caller, id), now()),

    async update(caller, id, input) {
      const url = input.url === undefined ? undefined : checkUrl(input.url, '/url');
      const auth = input.auth === undefined ? undefined : sealAuth(input.auth);
      const ca = input.caPem === undefined || input.caPem === null ? input.caPem : checkCa(input.caPem);
      const row = await change(caller, id, (r, t) => {
        let next: EndpointRow = {
          ...r,
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(url !== undefined ? { url } : {}),
          ...(input.eventTypes !== undefined ? { event_types: [...new Set(input.eventTypes)] } : {}),
          ...(input.deviceTags !== undefined ? { device_tags: [...new Set(input.deviceTags)] } : {}),
          ...(auth !== undefined ? { auth } : {}),
          ...(ca !== undefined ? { ca_pem: ca } : {}),
        };
        if (input.enabled === false)
          next = { ...next, status: 'disabled', status_reason: 'disabled by an operator' };
        // A new address, or one enabled again, proves itself again before events flow.
        else if ((url !== undefined && url !== r.url) || (input.enabled === true && r.status === 'disabled'))
          next = reverify(next, t);
        return next;
      });
      return toWebhook(row, now());
    },

    async delete(caller, id) {
      if (!(await store.deleteEndpoint(caller.tenantId, id)))
        throw new AppError('WEBHOOK_NOT_FOUND', `webhook ${id} not found`);
    },

    async verify(caller, id) {
      const row = await change(caller, id, (r, t) => {
        if (r.status === 'disabled')
          throw new AppError(
            'WEBHOOK_DISABLED',
            `webhook ${id} is disabled: enable it (PATCH enabled: true) first`,
          );
        // An active webhook stays active: made pending, events of that moment would not reach it.
        return r.status === 'active' ? r : reverify(r, t);
      });
      return toWebhook(row, now());
    },

    async rotateSecret(caller, id, overlapSeconds) {
      if (overlapSeconds > MAX_SECRET_OVERLAP_SECONDS)
        throw Errors.validation(`overlapSeconds is at most ${MAX_SECRET_OVERLAP_SECONDS}`, [
          { path: '/overlapSeconds', message: `at most ${MAX_SECRET_OVERLAP_SECONDS}` },
        ]);
      const secret = generateWebhookSecret();
      const row = await change(caller, id, (r, t) => ({
        ...r,
        secret: box.seal(secret),
        previous_secret: overlapSeconds > 0 ? r.secret : null,
        previous_until: overlapSeconds > 0 ? t + overlapSeconds * 1000 : null,
      }));
      return { webhook: toWebhook(row, now()), secret };
    },

    async deliveries(caller, id, q) {
      await find(caller, id);
      const limit = clampLimit(q.limit);
      const before = deps.cursors.decode(q.cursor, isCursor);
      const rows = await store.deliveries(id, {
        ...(q.status ? { status: q.status } : {}),
        ...(before ? { before } : {}),
        limit,
      });
      return deps.cursors.pageOf(rows, limit, toDelivery, (r) => [Number(r.created_at), r.id]);
    },

    async delivery(caller, id, deliveryId) {
      await find(caller, id);
      const row = await store.delivery(id, deliveryId);
      if (!row) throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND', `delivery ${deliveryId} not found`);
      return {
        ...toDelivery(row),
        event: JSON.parse(row.event) as PlatformEvent,
        attemptLog: await store.attempts(deliveryId),
      };
    },

    async replay(caller, id, deliveryId) {
      await find(caller, id);
      // Zero replayed: no such delivery, or one being sent right now (answered as it is).
      if ((await store.replay(id, { ids: [deliveryId] }, now())) > 0) nudge();
      const row = await store.delivery(id, deliveryId);
      if (!row) throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND', `delivery ${deliveryId} not found`);
      return toDelivery(row);
    },

    async replayRange(caller, id, q) {
      await find(caller, id);
      if (q.to <= q.from) throw Errors.invalidTimeRange('to must be after from');
      const replayed = await store.replay(
        id,
        { from: q.from, to: q.to, ...(q.status ? { status: q.status } : {}) },
        now(),
      );
      if (replayed > 0) nudge();
      return { replayed };
    },
  };
}
