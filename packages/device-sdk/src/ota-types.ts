/**
 * The OTA agent's contract with the firmware and the platform: the options (the firmware's
 * callbacks), the injected transport, and the events.
 */
import type { FirmwareReport, OtaOffer, OtaRejectCode, OtaReport } from '@mooring/protocol';
import type { BackoffOptions } from './backoff.js';
import type { OtaRangeFetch } from './ota-download.js';
import type { OtaPending } from './ota-store.js';
import type { OtaUpdateKey } from './ota-verify.js';

/** How the agent reaches the platform. */
export interface OtaTransport {
  /** Sends a progress report on `operationId` (MQTT `d/{id}/ota/{operationId}/progress`, or HTTPS). */
  report(operationId: string, report: OtaReport): Promise<void>;
  fetchRange: OtaRangeFetch;
  /** The tenant's update keys (`GET /v1/device/update-keys`); `signal` aborts the request. */
  fetchUpdateKeys(signal?: AbortSignal): Promise<OtaUpdateKey[]>;
}

export interface OtaDeferral {
  reason: string;
  /** When the device expects to go on (UTC ms): the agent asks again then. */
  until?: number;
}

/** What the firmware gives the agent (the `ota` option of `MooringDevice`). */
export interface OtaOptions {
  /** Where the image (`<artifactId>.part`) and `ota-state.json` are kept. */
  dir: string;
  /** Writes the verified image (to the inactive slot, say); returns when it is written. */
  install(file: string, offer: OtaOffer): Promise<void> | void;
  /** Called after `rebooting` is reported. Without it, reboot on the `installed` event. */
  reboot?(offer: OtaOffer): Promise<void> | void;
  /** A deferral policy: a deferral, or undefined to go on. Asked again at `until`, or `deferRecheckMs`. */
  defer?(offer: OtaOffer): OtaDeferral | undefined | Promise<OtaDeferral | undefined>;
  /** After the reboot into the new version: whether it works. Absent: it does. */
  confirmHealth?(update: OtaPending): boolean | Promise<boolean>;
  /** Goes back to the previous version after a failed health check; may return the version it now runs. */
  rollback?(update: OtaPending): string | void | Promise<string | void>;
  /** The anti-rollback sequence of the image running now, when the firmware knows it (default 0). */
  installedSequence?: number;
  /** Report `downloading` every this many percent (default 10). */
  progressStep?: number;
  /** Ask a deferral policy again after this long at most (default 60 s). */
  deferRecheckMs?: number;
  /** Refetch the update keys when the cached ones are older (default 10 min) or lack the signer. */
  keysMaxAgeMs?: number;
  /** Download retries: backoff between tries, and failed tries in a row before giving up (default 10). */
  retry?: BackoffOptions & { maxRetries?: number };
  /** A report that takes longer fails (default 30 s); the agent goes on. */
  reportTimeoutMs?: number;
}

export interface OtaAgentOptions extends OtaOptions {
  transport: OtaTransport;
  /** What the device runs now. */
  firmware: () => FirmwareReport;
}

export interface OtaEvents {
  offer: [offer: OtaOffer];
  rejected: [info: { offer: OtaOffer; code: OtaRejectCode; reason: string }];
  /** Every report, as it is sent. */
  progress: [info: { operationId: string; report: OtaReport }];
  /** The firmware's `install` returned; `rebooting` was reported. */
  installed: [info: { offer: OtaOffer; file: string }];
  cancelled: [info: { operationId: string; attempt: number; reason: string }];
  error: [error: Error];
}
