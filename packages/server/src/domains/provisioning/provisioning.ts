/**
 * Provisioning: zero-touch onboarding without a shared secret in firmware. A device holding a
 * provisioning token (PT) starts an operation with its serial (and optionally the verification code on
 * its display); a technician approves it with that code (or the token's policy does); the device then
 * picks up a short-lived registration token (RT) that is its identity on MQTT and HTTPS, and refreshes it
 * with the PT. Everything is revocable. The contract; `service.ts` implements it.
 */
import type { TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';
import type { AuthenticatedDevice } from '../devices/devices.js';
import type { PlatformCaller } from '../tenancy/tenancy.js';

export type TokenKind = 'device' | 'batch';
export type ApprovalPolicy = 'auto' | 'manual';
export type OperationStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'superseded' | 'locked';

export interface ProvisioningToken {
  id: string;
  name: string;
  kind: TokenKind;
  /** For `device` tokens: the one serial it provisions. */
  serial: string | null;
  maxUses: number;
  uses: number;
  approval: ApprovalPolicy;
  /** Tags given to devices it provisions. */
  deviceTags: string[];
  expiresAt: number | null;
  createdAt: number;
  revokedAt: number | null;
  prefix: string;
  /** Set when the token was used in a way firmware does not; see `reason`. */
  suspicious: { at: number; reason: string } | null;
}

export interface TokenCreate {
  name: string;
  kind: TokenKind;
  serial?: string;
  /** Batch tokens: how many devices it may provision (device tokens: 1). */
  maxUses?: number;
  approval: ApprovalPolicy;
  deviceTags?: string[];
  /** Lifetime in seconds; none = until revoked. */
  ttlSeconds?: number;
}

/** The technician's view of an operation. */
export interface ProvisioningOperation {
  id: string;
  tokenId: string;
  serial: string;
  attributes: Record<string, unknown>;
  status: OperationStatus;
  /** The serial was provisioned before: a human approves even under an auto-approval token. */
  reprovision: boolean;
  hasVerificationCode: boolean;
  hasCsr: boolean;
  wrongCodeAttempts: number;
  deviceId: string | null;
  reason: string | null;
  decidedBy: string | null;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
}

/** The device's view while it polls. */
export interface OperationView {
  operationId: string;
  status: OperationStatus;
  expiresAt: number;
  /** Suggested wait before the next poll, in ms. */
  pollAfterMs: number;
  deviceId?: string;
  registrationToken?: string;
  registrationTokenExpiresAt?: number;
  /** With the registration token: the tenant's update public keys (docs/ota.md). */
  updateKeys?: { id: string; kind: 'server' | 'offline'; status: 'active' | 'retired'; publicKey: string }[];
  /** When the device sent a CSR: its certificate (PEM) and the chain to send after it. */
  certificate?: string;
  certificateChain?: string;
  reason?: string;
}

export interface OperationStart {
  serial: string;
  attributes?: Record<string, unknown>;
  /** The code the device shows on its display, if it has one. */
  verificationCode?: string;
  /** A PKCS#10 CSR (PEM) from a key the device generated; the certificate is issued on approval. */
  csr?: string;
}

export interface OperationQuery {
  status?: OperationStatus;
  serial?: string;
  /** Only operations whose token gives devices this tag. */
  tag?: string;
  /** Only operations older than this many seconds. */
  minAgeSeconds?: number;
  cursor?: string;
  limit?: number;
}

export interface ProvisioningService {
  createToken(
    caller: TenantCaller,
    input: TokenCreate,
  ): Promise<{ provisioningToken: ProvisioningToken; secret: string }>;
  listTokens(caller: TenantCaller): Promise<ProvisioningToken[]>;
  getToken(caller: TenantCaller, id: string): Promise<ProvisioningToken>;
  /** Revokes a token: no new operations, no refreshes; pending operations of it are rejected. */
  revokeToken(caller: TenantCaller, id: string): Promise<void>;

  /** Checks a PT (for an MQTT provisioning connection); INVALID_CREDENTIALS when unknown or revoked. */
  authenticateToken(ptSecret: string): Promise<{ tokenId: string; tenantId: string }>;
  /** Device side, with the PT: starts (or restarts, superseding) an operation for a serial. */
  start(ptSecret: string, input: OperationStart): Promise<OperationView>;
  /** Device side: the operation's state, waiting up to `waitMs` for a decision (long poll). */
  poll(ptSecret: string, operationId: string, waitMs: number): Promise<OperationView>;
  /** Device side: a fresh RT for the PT and the device's current (or recently expired) RT. */
  refresh(
    ptSecret: string,
    registrationToken: string,
  ): Promise<{ registrationToken: string; expiresAt: number; deviceId: string }>;

  listOperations(caller: TenantCaller, q: OperationQuery): Promise<Page<ProvisioningOperation>>;
  getOperation(caller: TenantCaller, id: string): Promise<ProvisioningOperation>;
  /** Approves with the code the device shows (when it sent one); wrong codes are counted and lock it. */
  approve(
    caller: TenantCaller,
    id: string,
    input: { verificationCode?: string },
  ): Promise<ProvisioningOperation>;
  reject(caller: TenantCaller, id: string, reason?: string): Promise<ProvisioningOperation>;

  /** Refuses every RT issued to the device so far and drops its sessions; it must provision again. */
  revokeRegistrationTokens(caller: TenantCaller, deviceId: string): Promise<void>;
  /** Authenticates a device by its RT (MQTT password or HTTPS bearer). */
  authenticate(registrationToken: string, claimedDeviceId?: string): Promise<AuthenticatedDevice>;
  /** The public keys that sign registration tokens, as a JWK Set. */
  jwks(): { keys: object[] };
  /** Makes a new registration-token signing key the active one (platform administrators); returns its kid. */
  rotateSigningKey(caller: PlatformCaller): Promise<{ kid: string }>;
  /** Expires pending operations past their time and drops uncollected RTs; returns how many changed. */
  expireDue(): Promise<number>;
  /** Answers every long poll in progress now (shutdown): each gets the operation as it stands. */
  endLongPolls(): void;
}

// Factory bulk provisioning (`factory.ts`): a batch of serials becomes tokens or certificates at once.

export interface FactoryItem {
  serial: string;
  csr?: string;
}

export interface ManifestEntry {
  serial: string;
  deviceId?: string;
  /** Without a CSR: the unit's per-device provisioning token (flashed on the line). */
  provisioningTokenId?: string;
  provisioningToken?: string;
  /** With a CSR: the unit's certificate and chain. */
  certificateSerial?: string;
  certificate?: string;
  chain?: string;
  notAfter?: number;
}

export interface Manifest {
  batchId: string;
  createdAt: number;
  devices: number;
  items: ManifestEntry[];
}

export interface FactoryService {
  /** Provisions a batch; `onProgress` is called after each chunk with the count done. */
  provisionBatch(
    caller: TenantCaller,
    input: { batchId: string; items: FactoryItem[]; approval: 'auto' | 'manual'; deviceTags?: string[] },
  ): Promise<Manifest>;
}

export const MAX_BATCH_ITEMS = 10_000;
export const PROVISIONING_TOKEN_PREFIX = 'mpt';
/** Wrong verification codes before an operation locks. */
export const MAX_WRONG_CODES = 5;
/** Operations one device token may start in `BURST_WINDOW_MS` before it is flagged and refused. */
export const DEVICE_TOKEN_BURST = 5;
export const BURST_WINDOW_MS = 10 * 60_000;
/** How long an approved operation keeps its RT for the device to pick up. */
export const PICKUP_WINDOW_MS = 60 * 60_000;
export { SERIAL_PATTERN, VERIFICATION_CODE_PATTERN } from '@mooring/protocol';
/** Largest `attributes` document a device may send, in bytes of JSON. */
export const MAX_ATTRIBUTES_BYTES = 4096;
