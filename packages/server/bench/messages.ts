/** The IPC protocol between the orchestrator (run.ts) and the load generator (loadgen.ts). */
import type { Transport } from './client.js';
import type { HandshakeLoadResult, MtlsClientOptions, TlsVersion } from './mtls.js';
import type { Percentiles } from './stats.js';

export interface Target {
  clientId: string;
  username?: string;
  password?: string;
  topic: string;
}

export type LoadCommand =
  | { type: 'connect'; transport: Transport; targets: Target[]; payload: string; concurrency: number }
  | { type: 'throughput'; window: number; warmupMs: number; durationMs: number; drainMs: number }
  | { type: 'latency'; rate: number; warmupMs: number; durationMs: number; drainMs: number }
  /**
   * Open loop, each message one reading `{<key>: n}` numbered per connection (the webhooks phase), or
   * with `as: 'event'` one device event `{"type": "bench", "data": {<key>: n}}` (the bridge phase; the
   * connections' topic is then `d/{id}/events`).
   */
  | {
      type: 'sequenced';
      rate: number;
      key: string;
      as?: 'reading' | 'event';
      warmupMs: number;
      durationMs: number;
      drainMs: number;
    }
  /** Mutual-TLS handshakes with one device certificate, `concurrency` in flight (mtls.ts). */
  | ({
      type: 'mtls';
      version: TlsVersion;
      concurrency: number;
      warmupMs: number;
      durationMs: number;
    } & MtlsClientOptions)
  | { type: 'close' };

export interface ThroughputResult {
  type: 'throughput';
  /** PUBACKs received inside the measurement window, per second of the window. */
  msgsPerSec: number;
  ackedInWindow: number;
  windowMs: number;
  /** Publish → PUBACK at saturation (closed loop, so this is mostly queueing). */
  latencyMs: Percentiles;
  sentTotal: number;
  ackedTotal: number;
  /** Still unacknowledged when the drain timeout ran out (0 when every message was acked). */
  unacked: number;
  /** Acknowledged messages per client over the whole phase (warm-up and drain included). */
  ackedByClient: Record<string, number>;
}

export interface LatencyResult {
  type: 'latency';
  offeredMsgsPerSec: number;
  /** Messages actually written in the window, per second (shows whether the pacer kept up). */
  sentMsgsPerSec: number;
  /** PUBACKs received in the window, per second. */
  achievedMsgsPerSec: number;
  latencyMs: Percentiles;
  p99BySecondMs: number[];
  maxBySecondMs: number[];
  /** Messages sent in the window that were never acknowledged within the drain timeout. */
  unacked: number;
  ackedByClient: Record<string, number>;
}

export interface SequencedResult {
  type: 'sequenced';
  offeredMsgsPerSec: number;
  sentMsgsPerSec: number;
  /** PUBACKs received in the window (after the warm-up), per second. */
  achievedMsgsPerSec: number;
  /** Over the whole run, warm-up included. */
  sentTotal: number;
  ackedTotal: number;
  unacked: number;
  /** PUBLISH → PUBACK, for messages sent in the window. */
  latencyMs: Percentiles;
  /** Per client id, indexed by reading number: when its PUBACK arrived (epoch ms), -1 if it did not. */
  ackedAt: Record<string, number[]>;
}

export type MtlsResult = { type: 'mtls' } & HandshakeLoadResult;

export type LoadReply =
  | { type: 'connected'; count: number; ms: number }
  | { type: 'mark'; at: 'start' | 'end' }
  | ThroughputResult
  | LatencyResult
  | SequencedResult
  | MtlsResult
  | { type: 'closed' }
  | { type: 'error'; message: string };
