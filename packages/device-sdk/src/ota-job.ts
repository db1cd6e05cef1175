/** The OTA agent's bookkeeping of one offer it works on (internal). */
import type { OtaOffer, OtaReport, OtaReportState } from '@mooring/protocol';

export interface Job {
  offer: OtaOffer;
  abort: AbortController;
  /** The firmware's install began: a cancel comes too late. */
  installing?: boolean;
  last?: OtaReport;
  /** The furthest step reported, persisted: a restarted agent does not report going back. */
  reached?: OtaReportState | undefined;
  wake?: (() => void) | undefined;
  /** Delivered again while the deferral policy was being asked: ask again at once. */
  nudged?: boolean;
  done?: Promise<void>;
}
export type Op = { operationId: string; attempt: number };
/** The platform's order of the steps (a deferred operation may be accepted again). */
export const RANK: Partial<Record<OtaReportState, number>> = {
  accepted: 1,
  deferred: 1,
  downloading: 2,
  downloaded: 3,
  installing: 4,
  rebooting: 5,
};

/** A failure of one step, reported as `failed` with its code. */
export class StepError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
