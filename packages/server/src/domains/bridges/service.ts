import { createPrivateKey, X509Certificate } from 'node:crypto';
import { BRIDGE_LIMITS } from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import { newId } from '../../ids.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { AddressPolicy } from '../../platform/outbound/address-policy.js';
import { isOutboundError } from '../../platform/outbound/outbound-error.js';
import { checkTargetUrl } from '../../platform/outbound/url-policy.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { whenCommitted } from '../../store/ambient.js';
import type { Queryable, Transaction } from '../../store/db.js';
import type { AuditSink } from '../audit/audit.js';
import type { Bridge, BridgeInput, BridgeService, BridgeSpool, SpoolItem } from './bridges.js';
import type { BridgeColumns, BridgeRow, BridgeStore, SpoolOutcome } from './store.js';
import { renderTopic, topicTemplateProblem } from './topic-template.js';

export interface BridgeDeps {
  store: BridgeStore;
  storeOn: (q: Queryable) => BridgeStore;
  transaction: Transaction<BridgeStore>;
  box: SecretBox;
  /** The outbound address policy (the operator's allow-list applied). */
  policy: AddressPolicy;
  audit: AuditSink;
  /** A bridge was created, changed or deleted (which tenants forward which events may have changed). */
  changed?(): void;
  /** Messages were spooled for the bridge and committed: its forwarder, if it runs here, should look. */
  spooled?(bridgeId: string): void;
  now?: () => number;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

export function toBridge(r: BridgeRow): Bridge {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    username: r.username,
    hasPassword: r.password_sealed !== null,
    clientCert: r.client_cert,
    hasClientKey: r.client_key_sealed !== null,
    ca: r.ca,
    topicTemplate: r.topic_template,
    eventTypes: r.event_types,
    deviceTags: r.device_tags,
    qos: r.qos === 0 ? 0 : 1,
    spoolMaxBytes: Number(r.spool_max_bytes),
    spoolMaxAgeSeconds: r.spool_max_age_seconds,
    enabled: r.enabled,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    status: {
      connected: r.connected_now === true,
      lastConnectedAt: num(r.last_connected_at),
      lastError: r.last_error,
      lastErrorAt: num(r.last_error_at),
      spoolRows: Number(r.spool_rows),
      spoolBytes: Number(r.spool_bytes),
      oldestSpooledAt: num(r.oldest_spooled_at),
      forwarded: Number(r.forwarded),
      dropped: Number(r.dropped),
      lastDroppedAt: num(r.last_dropped_at),
    },
  };
}

function invalid(path: string, message: string): AppError {
  return Errors.validation(`${path.slice(1)}: ${message}`, [{ path, message }]);
}

function checkPem(path: string, pem: string, kind: 'certificate' | 'key'): void {
  try {
    if (kind === 'key') createPrivateKey(pem);
    else new X509Certificate(pem);
  } catch {
    throw invalid(path, kind === 'key' ? 'is not a PEM private key' : 'is not a PEM certificate');
  }
}

/** The bridge a drop belongs to, for its audit record. */
function dropRecord(tenantId: string, bridgeId: string, out: SpoolOutcome, cause: string) {
  return {
    tenantId,
    actor: 'system:bridge',
    action: 'bridges.spool-dropped',
    target: bridgeId,
    changes: { dropped: out.auditNow, totalDropped: out.totalDropped, cause },
  };
}

export function createBridgeService(
  deps: BridgeDeps,
): BridgeService & BridgeSpool & { expireSpools(): Promise<number> } {
  const { store, box } = deps;
  const now = deps.now ?? Date.now;

  /** Checks a complete set of settings; throws VALIDATION_FAILED naming the member. */
  function validate(c: BridgeColumns, clientKey: boolean): void {
    let target;
    try {
      target = checkTargetUrl(c.url, { schemes: ['mqtts', 'mqtt'], policy: deps.policy });
    } catch (e) {
      if (isOutboundError(e)) throw invalid('/url', e.message);
      throw e;
    }
    if (!['', '/'].includes(target.url.pathname) || target.url.search || target.url.hash)
      throw invalid('/url', 'may not have a path, query or fragment');
    if (target.scheme === 'mqtt' && (c.ca || c.client_cert))
      throw invalid('/url', 'a CA or a client certificate needs TLS: use mqtts://');
    const problem = topicTemplateProblem(c.topic_template);
    if (problem) throw invalid('/topicTemplate', problem);
    if (c.password_sealed !== null && c.username === null)
      throw invalid('/username', 'is required with a password');
    if ((c.client_cert !== null) !== clientKey)
      throw invalid(c.client_cert ? '/clientKey' : '/clientCert', 'clientCert and clientKey go together');
    if (c.client_cert) checkPem('/clientCert', c.client_cert, 'certificate');
    if (c.ca) checkPem('/ca', c.ca, 'certificate');
  }

  async function require(caller: TenantCaller, id: string): Promise<BridgeRow> {
    const row = await store.find(caller.tenantId, id);
    if (!row) throw new AppError('BRIDGE_NOT_FOUND', `bridge ${id} not found`);
    return row;
  }

  function seal(value: string | null | undefined, kept: string | null): string | null {
    if (value === undefined) return kept;
    return value === null ? null : box.seal(value);
  }

  function columns(input: Partial<BridgeInput>, base: BridgeColumns | undefined): BridgeColumns {
    const pick = <K extends keyof BridgeInput, C extends keyof BridgeColumns>(
      k: K,
      c: C,
      dflt: BridgeColumns[C],
    ) => (input[k] !== undefined ? input[k] : base ? base[c] : dflt) as BridgeColumns[C];
    const tags = pick('deviceTags', 'device_tags', null);
    return {
      name: pick('name', 'name', ''),
      url: pick('url', 'url', ''),
      username: pick('username', 'username', null),
      password_sealed: seal(input.password, base?.password_sealed ?? null),
      client_cert: pick('clientCert', 'client_cert', null),
      client_key_sealed: seal(input.clientKey, base?.client_key_sealed ?? null),
      ca: pick('ca', 'ca', null),
      topic_template: pick('topicTemplate', 'topic_template', ''),
      event_types: pick('eventTypes', 'event_types', []),
      device_tags: tags && tags.length > 0 ? tags : null,
      qos: pick('qos', 'qos', 1),
      spool_max_bytes: pick('spoolMaxBytes', 'spool_max_bytes', BRIDGE_LIMITS.defaultSpoolMaxBytes),
      spool_max_age_seconds: pick(
        'spoolMaxAgeSeconds',
        'spool_max_age_seconds',
        BRIDGE_LIMITS.defaultSpoolMaxAgeSeconds,
      ),
      enabled: pick('enabled', 'enabled', true),
    };
  }

  /**
   * Spools events into the matching bridges, in the transaction `q` belongs to: the tenant's bridges
   * are read once per tenant and each bridge's messages written in one go, in the events' order.
   */
  async function enqueueOn(q: Queryable, items: readonly SpoolItem[]) {
    const s = deps.storeOn(q);
    const byTenant = new Map<string, SpoolItem[]>();
    for (const item of items) {
      const list = byTenant.get(item.event.tenantId);
      if (list) list.push(item);
      else byTenant.set(item.event.tenantId, [item]);
    }
    let spooled = 0;
    for (const [tenantId, list] of byTenant) {
      const targets = await s.spoolTargets(tenantId);
      for (const t of targets) {
        const messages = list
          .filter(
            ({ event, deviceTags }) =>
              t.event_types.includes(event.type) &&
              (t.device_tags === null ||
                event.deviceId === null ||
                t.device_tags.some((tag) => deviceTags.includes(tag))),
          )
          .map(({ event }) => ({
            topic: renderTopic(t.topic_template, event),
            payload: Buffer.from(JSON.stringify(event)),
          }));
        if (messages.length === 0) continue;
        const out = await s.spool(t.id, t.tenant_id, messages, now());
        if (!out) continue;
        spooled += messages.length;
        const bridgeId = t.id;
        whenCommitted(() => deps.spooled?.(bridgeId));
        if (out.auditNow > 0) deps.audit(dropRecord(t.tenant_id, t.id, out, 'spool cap'));
      }
    }
    return spooled;
  }

  function enqueueMany(items: readonly SpoolItem[], tx?: Queryable): Promise<number> {
    if (items.length === 0) return Promise.resolve(0);
    if (tx) return enqueueOn(tx, items);
    return deps.transaction((_s, q) => enqueueOn(q, items));
  }

  return {
    async list(caller) {
      return (await store.list(caller.tenantId)).map(toBridge);
    },
    async get(caller, id) {
      return toBridge(await require(caller, id));
    },
    async create(caller, input) {
      const c = columns(input, undefined);
      validate(c, typeof input.clientKey === 'string');
      if (input.clientKey) checkPem('/clientKey', input.clientKey, 'key');
      const id = newId('brg');
      await store.insert(id, caller.tenantId, c, now());
      deps.changed?.();
      return toBridge(await require(caller, id));
    },
    async update(caller, id, input) {
      const row = await require(caller, id);
      const secrets = await store.secrets(caller.tenantId, id);
      const base: BridgeColumns = {
        ...row,
        spool_max_bytes: Number(row.spool_max_bytes),
        password_sealed: secrets?.password_sealed ?? null,
        client_key_sealed: secrets?.client_key_sealed ?? null,
      };
      const c = columns(input, base);
      validate(c, c.client_key_sealed !== null);
      if (input.clientKey) checkPem('/clientKey', input.clientKey, 'key');
      if (!(await store.update(caller.tenantId, id, c, now())))
        throw new AppError('BRIDGE_NOT_FOUND', `bridge ${id} not found`);
      deps.changed?.();
      return toBridge(await require(caller, id));
    },
    async delete(caller, id) {
      if (!(await store.remove(caller.tenantId, id)))
        throw new AppError('BRIDGE_NOT_FOUND', `bridge ${id} not found`);
      deps.changed?.();
    },

    enqueue: (event, deviceTags, tx) => enqueueMany([{ event, deviceTags }], tx),
    enqueueMany,

    /** The periodic pass: the age cap of every spool, and drops still to be audited. */
    async expireSpools() {
      let dropped = 0;
      for (const id of await store.expiryCandidates(now())) {
        const out = await deps.transaction((s) => s.expire(id, now()));
        if (!out) continue;
        dropped += out.dropped;
        if (out.auditNow > 0) deps.audit(dropRecord(out.tenantId, id, out, 'spool cap'));
      }
      return dropped;
    },
  };
}
