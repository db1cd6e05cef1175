/**
 * The OTA device contract (docs/ota.md): what the platform offers a device and what the device reports
 * back, over MQTT (`d/{id}/ota/{operationId}` and `…/progress`) and the HTTPS device API.
 *
 * An operation is one device's part in one deployment. The platform sends an `offer` (the signed
 * manifest and where to download the image) and, when the operation is cancelled before the device
 * began installing, a `cancel`. Both are delivered at least once, again on every reconnect while
 * open, so a device deduplicates by `operationId` and `attempt`. The device reports each step; after
 * its reboot it reports `succeeded` with the version it now runs, which is what counts as success.
 */
import { Type, type Static } from '@sinclair/typebox';
import { checkSchema } from './schema-check.js';
import { parseSemver, FIRMWARE_LIMITS } from './firmware.js';
import { MAX_EPOCH_MS } from './api/common.js';

/** States from which a cancel still reaches the device in time: it has not begun installing. */
export const OTA_CANCELLABLE_STATES = [
  'offered',
  'accepted',
  'deferred',
  'downloading',
  'downloaded',
] as const;

/** States in which the device holds the offer (each has a deadline). */
export const OTA_ACTIVE_STATES = [...OTA_CANCELLABLE_STATES, 'installing', 'rebooting'] as const;
export type OtaActiveState = (typeof OTA_ACTIVE_STATES)[number];

/** States an operation ends in. `failed`, `rolled_back` and `timed_out` are retried while retries last. */
export const OTA_FINAL_STATES = [
  'succeeded',
  'failed',
  'rolled_back',
  'rejected',
  'timed_out',
  'cancelled',
] as const;

/** Every state of a device's operation, in the order a healthy update walks them. */
export const OTA_STATES = ['queued', ...OTA_ACTIVE_STATES, ...OTA_FINAL_STATES] as const;
export type OtaState = (typeof OTA_STATES)[number];

/** What a device may report. `cancelled` acknowledges a cancel. */
export const OTA_REPORT_STATES = [
  'accepted',
  'deferred',
  'downloading',
  'downloaded',
  'installing',
  'rebooting',
  'succeeded',
  'failed',
  'rolled_back',
  'rejected',
  'cancelled',
] as const satisfies readonly OtaState[];
export type OtaReportState = (typeof OTA_REPORT_STATES)[number];

/**
 * Why a device refuses an offer before installing (`rejected` with this `code`): the SDK's checks of
 * the manifest and the image.
 */
export const OTA_REJECT_CODES = [
  'SIGNATURE_INVALID',
  'UNKNOWN_UPDATE_KEY',
  'HARDWARE_CLASS_MISMATCH',
  'BELOW_MIN_VERSION',
  'SEQUENCE_NOT_NEWER',
  'DIGEST_MISMATCH',
  'SIZE_MISMATCH',
] as const;
export type OtaRejectCode = (typeof OTA_REJECT_CODES)[number];

export const OTA_LIMITS = {
  maxReasonLength: 256,
  maxCodeLength: 64,
} as const;

/**
 * The platform's ids in OTA messages (`art_…`, `ota_<x>_<n>`, `dep_…`): letters, digits, `_` and `-`
 * only. The artifact id is not signed and names the part file, so it must not be a path.
 */
const OtaIdSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });

/** The signed manifest as a device receives it, with what it needs to check the signature. */
export const OtaArtifactSchema = Type.Object(
  {
    id: OtaIdSchema,
    tenantId: Type.String(),
    version: Type.String(),
    hardwareClass: Type.String(),
    minVersion: Type.Union([Type.String(), Type.Null()]),
    sequence: Type.Integer({ minimum: 1 }),
    size: Type.Integer({ minimum: 0 }),
    sha256: Type.String(),
    /** Base64 Ed25519 signature over `artifactSignedText` of these fields. */
    signature: Type.String(),
    keyId: Type.String(),
  },
  { additionalProperties: false },
);
export type OtaArtifact = Static<typeof OtaArtifactSchema>;

export const OtaOfferSchema = Type.Object(
  {
    type: Type.Literal('offer'),
    operationId: OtaIdSchema,
    deploymentId: OtaIdSchema,
    /** From 1; a retry after a failure or a timeout is the next attempt of the same operation. */
    attempt: Type.Integer({ minimum: 1 }),
    artifact: OtaArtifactSchema,
    /** The HTTPS device API path that serves the image, with `Range`. */
    downloadPath: Type.String(),
    /**
     * Seconds the device may stay silent in each state before the platform times the attempt out
     * (`offered`, `accepted`, `deferred`, `downloading`, `downloaded`, `installing`, `rebooting`).
     */
    timeouts: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }))),
  },
  { additionalProperties: false },
);
export type OtaOffer = Static<typeof OtaOfferSchema>;

export const OtaCancelSchema = Type.Object(
  {
    type: Type.Literal('cancel'),
    operationId: OtaIdSchema,
    deploymentId: OtaIdSchema,
    attempt: Type.Integer({ minimum: 1 }),
    reason: Type.String(),
  },
  { additionalProperties: false },
);
export type OtaCancel = Static<typeof OtaCancelSchema>;

/** What the platform publishes on `d/{id}/ota/{operationId}` (QoS 1) and the device API lists. */
export const OtaMessageSchema = Type.Union([OtaOfferSchema, OtaCancelSchema]);
export type OtaMessage = OtaOffer | OtaCancel;

/** What a device reports on `d/{id}/ota/{operationId}/progress` or over HTTPS. */
export const OtaReportSchema = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    state: Type.Union(OTA_REPORT_STATES.map((s) => Type.Literal(s))),
    /** Download progress in percent, with `downloading`. */
    progress: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** A machine-readable reason (`rejected`: one of the reject codes; otherwise the firmware's own). */
    code: Type.Optional(
      Type.String({ minLength: 1, maxLength: OTA_LIMITS.maxCodeLength, pattern: '^[A-Za-z0-9_.:-]+$' }),
    ),
    /** A human reason: why it deferred, failed or rolled back. */
    reason: Type.Optional(Type.String({ maxLength: OTA_LIMITS.maxReasonLength })),
    /** The version the device runs: required with `succeeded` and `rolled_back`. */
    version: Type.Optional(Type.String({ minLength: 5, maxLength: FIRMWARE_LIMITS.maxVersionLength })),
    /** With `deferred`: when the device expects to go on (UTC ms); the deferral deadline still holds. */
    until: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_EPOCH_MS })),
  },
  { additionalProperties: false },
);
export type OtaReport = Static<typeof OtaReportSchema>;

export type OtaReportResult = { ok: true; value: OtaReport } | { ok: false; message: string; path: string };

/** Validates a decoded progress report; `succeeded` and `rolled_back` must name a SemVer version. */
export function parseOtaReport(body: unknown): OtaReportResult {
  const checked = checkSchema(OtaReportSchema, body, {
    '': 'a progress report must be an object',
    attempt: 'attempt must be the integer attempt of the offer',
    state: `state must be one of ${OTA_REPORT_STATES.join(', ')}`,
    progress: 'progress must be an integer percentage from 0 to 100',
    code: `code must be 1 to ${OTA_LIMITS.maxCodeLength} letters, digits or _.:-`,
    reason: `reason is at most ${OTA_LIMITS.maxReasonLength} characters`,
    version: 'version must be a Semantic Versioning 2.0.0 version',
    until: 'until must be a time in UTC milliseconds',
  });
  if (!checked.ok) return checked;
  const r = checked.value;
  if (r.version !== undefined) {
    const v = parseSemver(r.version);
    if (!v.ok) return { ok: false, message: v.message, path: '/version' };
  }
  if ((r.state === 'succeeded' || r.state === 'rolled_back') && r.version === undefined)
    return {
      ok: false,
      message: `a '${r.state}' report names the version the device now runs`,
      path: '/version',
    };
  return { ok: true, value: r };
}
