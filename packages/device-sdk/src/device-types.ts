/** The options and events of `MooringDevice` (device.ts). */
import type { CommandMessage, FirmwareReport } from '@mooring/protocol';
import type { BackoffOptions } from './backoff.js';
import type { CredentialStore, Credentials } from './credentials.js';
import type { HttpTarget } from './http.js';
import type { OtaOptions, OtaTransport } from './ota.js';
import type { DesiredConfig, DeviceConfigOptions } from './config-agent.js';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface DeviceEvents {
  state: [state: ConnectionState];
  connected: [];
  disconnected: [reason: string];
  /** A connection attempt failed; the next one starts in `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; reason: string }];
  /** Readings dropped because the offline buffer was full (oldest first). */
  dropped: [count: number];
  /** Credentials changed (refresh, renewal): already saved to the store. */
  credentials: [credentials: Credentials];
  command: [command: CommandMessage];
  /** The `config` handler applied a desired version; it is saved and being acknowledged. */
  desiredConfig: [config: DesiredConfig];
  error: [error: Error];
}

export interface DeviceOptions {
  store: CredentialStore;
  http: HttpTarget;
  /** MQTT over TLS (registration token) at `mqtts://host:8883`. */
  mqttUrl: string;
  /** MQTT over mutual TLS at `mqtts://host:8884`: used when the device has a certificate. */
  mqttMtlsUrl?: string;
  /** Use the certificate (mTLS) rather than the registration token when both exist. Default true. */
  preferCertificate?: boolean;
  /** TLS server name when the URLs use an address. */
  servername?: string;
  buffer?: { maxReadings?: number; path?: string };
  /** Readings per telemetry message (default 50) and messages in flight (default 8). */
  batchSize?: number;
  window?: number;
  commandTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Renew credentials when less than this share of their lifetime is left (default 0.2). */
  renewAt?: number;
  keepaliveSeconds?: number;
  /**
   * The firmware this device runs, reported on `d/{id}/state/firmware` at every connect (before the
   * `connected` event): what the platform's fleet versions and minimum-version policy count.
   */
  firmware?: FirmwareReport;
  /**
   * Over-the-air updates (docs/ota.md): the device subscribes to `d/{id}/ota/+` and the agent
   * (`device.ota`) checks, downloads and hands each offered image to `install`. Needs `firmware`.
   */
  ota?: DeviceOtaOptions;
  /**
   * Desired configuration (docs/config.md): the device subscribes to `d/{id}/config/desired` and
   * hands each new desired document to `onDesired`, then saves and acknowledges it.
   */
  config?: DeviceConfigOptions;
}

/** The `ota` option of `MooringDevice`. */
export interface DeviceOtaOptions extends OtaOptions {
  /**
   * Wraps the transport the device gives its agent (MQTT reports, the HTTPS download and keys): for
   * tests and simulations that inject faults, such as a download that breaks off.
   */
  wrapTransport?(transport: OtaTransport): OtaTransport;
}
