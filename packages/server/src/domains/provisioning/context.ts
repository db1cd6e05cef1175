/** What the parts of the provisioning service share: their dependencies, the store and the clock. */
import type { FactWriter } from '../../platform/outbox.js';
import type { Notifier } from '../../platform/notifier.js';
import type { Cursors } from '../../platform/pagination.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Transaction } from '../../store/db.js';
import type { AuditSink } from '../audit/audit.js';
import type { DeviceRecordsOn } from '../devices/devices.js';
import type { PkiService } from '../pki/pki.js';
import type { RegistrationTokens } from './registration-tokens.js';
import type { ProvisioningStore } from './store.js';

export interface ProvisioningDeps {
  store: ProvisioningStore;
  transaction: Transaction<ProvisioningStore>;
  /** Finds units by serial; creates a provisioned unit's device record in its approval's transaction. */
  deviceRecords: DeviceRecordsOn;
  bus: Notifier;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  box: SecretBox;
  tokens: RegistrationTokens;
  /** Checks CSRs when operations start and issues certificates on approval. */
  pki: PkiService;
  operationTtlSeconds: number;
  /** How long after expiry an RT may still be exchanged for a new one, in ms. */
  refreshGraceMs: number;
  /** provisioning.decided facts for integrations, written with the decision. */
  outbox?: FactWriter;
  /** Device-side credential events (starts, completions, refreshes) for the audit trail. */
  audit?: AuditSink;
  /** The tenant's update public keys (active and retired), handed to a device when it is approved. */
  updateKeys?(
    tenantId: string,
  ): Promise<{ id: string; kind: 'server' | 'offline'; status: 'active' | 'retired'; publicKey: string }[]>;
  now?: () => number;
}

export interface ProvisioningContext {
  deps: ProvisioningDeps;
  store: ProvisioningStore;
  now: () => number;
  audit: AuditSink;
}

export function contextOf(deps: ProvisioningDeps): ProvisioningContext {
  return {
    deps,
    store: deps.store,
    now: deps.now ?? Date.now,
    audit: deps.audit ?? (() => undefined),
  };
}
