/**
 * Configuration, parsed once at start from `MOORING_*` environment variables and an optional JSON file
 * (environment wins), validated with messages that name the key, then frozen and passed down.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import {
  CONFIGURABLE_LIMITS,
  DEFAULT_LIMIT_VALUES,
  limitEnvName,
  type ConfigurableLimit,
  type LimitValues,
} from './platform/limits/catalogue.js';

function isCidr(v: string): boolean {
  try {
    ipaddr.parseCIDR(v);
    return true;
  } catch {
    return false;
  }
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** Where the embedded database, certificates and the bootstrap credential live. */
  readonly dataDir: string;
  /** PostgreSQL URL; empty selects the embedded PGlite store inside `dataDir`. */
  readonly databaseUrl: string;
  /** HTTPS (REST, device API, MQTT over WebSocket at `/mqtt`) listen address; port 0 picks a free port. */
  readonly httpHost: string;
  readonly httpPort: number;
  /** MQTT over TLS listen address; port 0 picks a free port. */
  readonly mqttHost: string;
  readonly mqttPort: number;
  /** Opens an anonymous plain-TCP MQTT listener on 127.0.0.1 for protocol conformance suites. Never in production. */
  readonly devInsecureMqtt: boolean;
  readonly devInsecureMqttPort: number;
  readonly logLevel: LogLevel;
  /** Operator-supplied server certificate and key (PEM files); when empty a platform CA issues one. */
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  /** Extra DNS names / IP addresses for the generated server certificate. */
  readonly tlsHostnames: readonly string[];
  /** Largest number of telemetry rows one group commit writes. */
  readonly telemetryBatchMaxRows: number;
  /** Default and maximum lifetime of a command, in seconds. */
  readonly commandDefaultTtlSeconds: number;
  readonly commandMaxTtlSeconds: number;
  /** Lifetime of a console/API login session, in seconds. */
  readonly sessionTtlSeconds: number;
  /** Largest firmware artifact an upload may carry, in bytes (MOORING_ARTIFACT_MAX_BYTES). */
  readonly artifactMaxBytes: number;
  /**
   * CIDRs that outbound connections (webhooks, MQTT bridges) may reach although they are loopback,
   * private, link-local or otherwise refused (MOORING_OUTBOUND_ALLOW_LIST, comma-separated). Empty: none.
   */
  readonly outboundAllowList: readonly string[];
  /**
   * Compresses the webhook retry and verification schedules (MOORING_WEBHOOK_RETRY_SCALE, above 0,
   * at most 1): 0.001 turns three days of retries into four minutes, for tests and drills. 1 in
   * production.
   */
  readonly webhookRetryScale: number;
  /** Identifies this node in presence records; must be unique per node sharing a database. */
  readonly nodeId: string;
  /** 32-byte key (base64) that encrypts secrets at rest; empty = `<dataDir>/secret.key`, created on first start. */
  readonly secretKey: string;
  /** Lifetime of a registration token, in seconds (one hour to about a year). */
  readonly registrationTokenTtlSeconds: number;
  /** How long a provisioning operation waits for approval, in seconds. */
  readonly provisioningOperationTtlSeconds: number;
  /** Clock skew tolerated when checking token times, in seconds. */
  readonly tokenClockSkewSeconds: number;
  /** MQTT over mutual TLS (device certificates) listen port, on `mqttHost`; 0 picks a free port. */
  readonly mqttMtlsPort: number;
  /** Validity of device certificates, in days. */
  readonly certificateValidityDays: number;
  /**
   * An MQTT client that accepts nothing while messages wait toward it is disconnected as a slow
   * consumer after this many seconds (MOORING_MQTT_DRAIN_TIMEOUT_SECONDS).
   */
  readonly mqttDrainTimeoutSeconds: number;
  // --- HTTPS hygiene (slow clients, security headers, security.txt): docs/operations.md "HTTPS hygiene".
  /** A TLS handshake on the HTTPS port must complete within this many seconds. */
  readonly httpHandshakeTimeoutSeconds: number;
  /** A request's headers must arrive in full within this many seconds of its first byte. */
  readonly httpHeadersTimeoutSeconds: number;
  /** A request's body must arrive in full within this many seconds of its headers (streamed uploads: see below). */
  readonly httpRequestTimeoutSeconds: number;
  /**
   * A streamed upload (a firmware image) must deliver at least this many bytes in every
   * `httpRequestTimeoutSeconds` window, on average per second, instead of the fixed body deadline.
   */
  readonly httpUploadMinBytesPerSecond: number;
  /** A connection that carries nothing for this many seconds is closed (between requests and during one). */
  readonly httpIdleTimeoutSeconds: number;
  /** The Strict-Transport-Security value sent on every HTTPS answer; `off` sends none. */
  readonly httpStrictTransportSecurity: string;
  /** Contact URIs (`mailto:`, `https:`, `tel:`) of /.well-known/security.txt; empty: it is not served. */
  readonly securityContact: readonly string[];
  /** The Expires date of security.txt (RFC 3339); empty: 180 days after the answer's day. */
  readonly securityTxtExpires: string;
  // --- MQTT connection hygiene: docs/operations.md "MQTT connection hygiene".
  /** A TLS handshake on an MQTT port (TLS, mutual TLS) must complete within this many seconds. */
  readonly mqttHandshakeTimeoutSeconds: number;
  /** After the handshake (or the WebSocket upgrade), CONNECT must arrive within this many seconds. */
  readonly mqttConnectTimeoutSeconds: number;
  /** A packet whose remaining length exceeds this many bytes closes the connection when its header arrives. */
  readonly mqttMaxPacketBytes: number;
  /** A CONNECT's keep-alive of 0 or above this many seconds is taken as this (idle deadline 1.5 ×). */
  readonly mqttMaxKeepaliveSeconds: number;
  /**
   * The default value of every limit kept by the limiter, by name (platform/limits/catalogue.ts, docs/operations.md
   * "Limits"): `MOORING_LIMIT_<NAME>` (`rest.requests_per_key` → `MOORING_LIMIT_REST_REQUESTS_PER_KEY`), or the
   * config file's `limits` object (`{"rest.requests_per_key": 1000}`). Per-tenant and per-device overrides win.
   */
  readonly limits: LimitValues;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Source = Record<string, unknown>;

interface Field {
  env: string;
  file: string;
}

function field(name: string): Field {
  return { env: `MOORING_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, file: name };
}

function pick(env: NodeJS.ProcessEnv, file: Source, f: Field): { value: unknown; from: string } | undefined {
  const e = env[f.env];
  if (e !== undefined && e !== '') return { value: e, from: f.env };
  if (file[f.file] !== undefined) return { value: file[f.file], from: `config file key '${f.file}'` };
  return undefined;
}

function str(env: NodeJS.ProcessEnv, file: Source, name: string, def: string): string {
  const v = pick(env, file, field(name));
  if (!v) return def;
  if (typeof v.value !== 'string') throw new ConfigError(`${v.from}: must be a string`);
  return v.value;
}

function int(
  env: NodeJS.ProcessEnv,
  file: Source,
  name: string,
  def: number,
  min: number,
  max: number,
): number {
  const v = pick(env, file, field(name));
  if (!v) return def;
  const n = typeof v.value === 'number' ? v.value : Number(String(v.value).trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${v.from}: must be an integer from ${min} to ${max}, got '${String(v.value)}'`);
  }
  return n;
}

function fraction(env: NodeJS.ProcessEnv, file: Source, name: string, def: number): number {
  const v = pick(env, file, field(name));
  if (!v) return def;
  const n = typeof v.value === 'number' ? v.value : Number(String(v.value).trim());
  if (!Number.isFinite(n) || n <= 0 || n > 1) {
    throw new ConfigError(`${v.from}: must be a number above 0 and at most 1, got '${String(v.value)}'`);
  }
  return n;
}

function bool(env: NodeJS.ProcessEnv, file: Source, name: string, def: boolean): boolean {
  const v = pick(env, file, field(name));
  if (!v) return def;
  if (typeof v.value === 'boolean') return v.value;
  const s = String(v.value).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(`${v.from}: must be true or false, got '${String(v.value)}'`);
}

function list(env: NodeJS.ProcessEnv, file: Source, name: string): string[] {
  const v = pick(env, file, field(name));
  if (!v) return [];
  if (Array.isArray(v.value)) return v.value.map(String);
  return String(v.value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The limits' default values: each from its `MOORING_LIMIT_<NAME>` variable, else from the config
 * file's `limits` object, else the catalogue's default. A whole number of units per the limit's window.
 */
function limitSettings(env: NodeJS.ProcessEnv, file: Source): LimitValues {
  const fromFile = file.limits ?? {};
  if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile))
    throw new ConfigError(`config file key 'limits': must be an object of limit names and values`);
  const known = new Set<string>(CONFIGURABLE_LIMITS);
  for (const name of Object.keys(fromFile)) {
    if (!known.has(name)) throw new ConfigError(`config file key 'limits.${name}' is not a known limit`);
  }
  const values: Partial<Record<ConfigurableLimit, number>> = {};
  for (const name of CONFIGURABLE_LIMITS) {
    const e = env[limitEnvName(name)];
    const given: { value: unknown; from: string } | undefined =
      e !== undefined && e !== ''
        ? { value: e, from: limitEnvName(name) }
        : (fromFile as Source)[name] !== undefined
          ? { value: (fromFile as Source)[name], from: `config file key 'limits.${name}'` }
          : undefined;
    if (!given) {
      values[name] = DEFAULT_LIMIT_VALUES[name];
      continue;
    }
    const n = typeof given.value === 'number' ? given.value : Number(String(given.value).trim());
    if (!Number.isSafeInteger(n) || n < 1)
      throw new ConfigError(`${given.from}: must be a whole number above 0, got '${String(given.value)}'`);
    values[name] = n;
  }
  return Object.freeze(values as Record<ConfigurableLimit, number>);
}

/** Parses configuration. `overrides` (from command-line flags) win over the environment and the file. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const filePath = env.MOORING_CONFIG_FILE;
  let file: Source = {};
  if (filePath) {
    let text: string;
    try {
      text = readFileSync(filePath, 'utf8');
    } catch (e) {
      throw new ConfigError(`MOORING_CONFIG_FILE: cannot read ${filePath}: ${(e as Error).message}`);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      file = parsed as Source;
    } catch (e) {
      throw new ConfigError(`MOORING_CONFIG_FILE: ${filePath} is not a JSON object: ${(e as Error).message}`);
    }
    const known = new Set(Object.keys(DEFAULT_FIELDS));
    for (const key of Object.keys(file)) {
      if (!known.has(key)) throw new ConfigError(`config file key '${key}' is not a known setting`);
    }
  }
  const logLevel = str(env, file, 'logLevel', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`MOORING_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  }
  const databaseUrl = str(env, file, 'databaseUrl', '');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`MOORING_DATABASE_URL: must start with postgres:// or postgresql://`);
  }
  const config: Config = {
    dataDir: resolve(str(env, file, 'dataDir', '.mooring')),
    databaseUrl,
    httpHost: str(env, file, 'httpHost', '0.0.0.0'),
    httpPort: int(env, file, 'httpPort', 8443, 0, 65535),
    mqttHost: str(env, file, 'mqttHost', '0.0.0.0'),
    mqttPort: int(env, file, 'mqttPort', 8883, 0, 65535),
    devInsecureMqtt: bool(env, file, 'devInsecureMqtt', false),
    devInsecureMqttPort: int(env, file, 'devInsecureMqttPort', 1884, 0, 65535),
    logLevel,
    tlsCertFile: str(env, file, 'tlsCertFile', ''),
    tlsKeyFile: str(env, file, 'tlsKeyFile', ''),
    tlsHostnames: list(env, file, 'tlsHostnames'),
    telemetryBatchMaxRows: int(env, file, 'telemetryBatchMaxRows', 5000, 1, 100_000),
    commandDefaultTtlSeconds: int(env, file, 'commandDefaultTtlSeconds', 3600, 1, 30 * 86400),
    commandMaxTtlSeconds: int(env, file, 'commandMaxTtlSeconds', 7 * 86400, 1, 365 * 86400),
    sessionTtlSeconds: int(env, file, 'sessionTtlSeconds', 12 * 3600, 60, 30 * 86400),
    artifactMaxBytes: int(env, file, 'artifactMaxBytes', 64 * 1024 * 1024, 1, 4 * 1024 * 1024 * 1024),
    outboundAllowList: list(env, file, 'outboundAllowList'),
    webhookRetryScale: fraction(env, file, 'webhookRetryScale', 1),
    nodeId: str(env, file, 'nodeId', 'node-1'),
    secretKey: str(env, file, 'secretKey', ''),
    registrationTokenTtlSeconds: int(env, file, 'registrationTokenTtlSeconds', 30 * 86400, 3600, 400 * 86400),
    provisioningOperationTtlSeconds: int(env, file, 'provisioningOperationTtlSeconds', 86400, 60, 30 * 86400),
    tokenClockSkewSeconds: int(env, file, 'tokenClockSkewSeconds', 300, 0, 3600),
    mqttMtlsPort: int(env, file, 'mqttMtlsPort', 8884, 0, 65535),
    certificateValidityDays: int(env, file, 'certificateValidityDays', 365, 1, 3650),
    mqttDrainTimeoutSeconds: int(env, file, 'mqttDrainTimeoutSeconds', 30, 1, 600),
    // HTTPS hygiene
    httpHandshakeTimeoutSeconds: int(env, file, 'httpHandshakeTimeoutSeconds', 10, 1, 120),
    httpHeadersTimeoutSeconds: int(env, file, 'httpHeadersTimeoutSeconds', 10, 1, 300),
    httpRequestTimeoutSeconds: int(env, file, 'httpRequestTimeoutSeconds', 30, 1, 3600),
    httpUploadMinBytesPerSecond: int(env, file, 'httpUploadMinBytesPerSecond', 1024, 1, 1024 * 1024 * 1024),
    httpIdleTimeoutSeconds: int(env, file, 'httpIdleTimeoutSeconds', 75, 1, 3600),
    httpStrictTransportSecurity: str(env, file, 'httpStrictTransportSecurity', HSTS_DEFAULT),
    securityContact: list(env, file, 'securityContact'),
    securityTxtExpires: str(env, file, 'securityTxtExpires', ''),
    // MQTT connection hygiene
    mqttHandshakeTimeoutSeconds: int(env, file, 'mqttHandshakeTimeoutSeconds', 10, 1, 120),
    mqttConnectTimeoutSeconds: int(env, file, 'mqttConnectTimeoutSeconds', 10, 1, 120),
    mqttMaxPacketBytes: int(env, file, 'mqttMaxPacketBytes', 128 * 1024, 16 * 1024, 268_435_455),
    mqttMaxKeepaliveSeconds: int(env, file, 'mqttMaxKeepaliveSeconds', 1200, 1, 65_535),
    // Limits (platform/limits/catalogue.ts)
    limits: limitSettings(env, file),
    ...overrides,
  };
  if (Boolean(config.tlsCertFile) !== Boolean(config.tlsKeyFile)) {
    throw new ConfigError('MOORING_TLS_CERT_FILE and MOORING_TLS_KEY_FILE must be given together');
  }
  if (config.secretKey && Buffer.from(config.secretKey, 'base64').length !== 32) {
    throw new ConfigError('MOORING_SECRET_KEY: must be 32 bytes, base64-encoded (openssl rand -base64 32)');
  }
  for (const cidr of config.outboundAllowList) {
    if (!isCidr(cidr))
      throw new ConfigError(`MOORING_OUTBOUND_ALLOW_LIST: '${cidr}' is not a CIDR such as 127.0.0.1/32`);
  }
  checkHttpHygiene(config);
  if (config.commandDefaultTtlSeconds > config.commandMaxTtlSeconds) {
    throw new ConfigError(
      'MOORING_COMMAND_DEFAULT_TTL_SECONDS must not exceed MOORING_COMMAND_MAX_TTL_SECONDS',
    );
  }
  return Object.freeze(config);
}

/** The settings a config file may name (used to refuse unknown keys). */
const DEFAULT_FIELDS: Record<keyof Config, true> = {
  dataDir: true,
  databaseUrl: true,
  httpHost: true,
  httpPort: true,
  mqttHost: true,
  mqttPort: true,
  devInsecureMqtt: true,
  devInsecureMqttPort: true,
  logLevel: true,
  tlsCertFile: true,
  tlsKeyFile: true,
  tlsHostnames: true,
  telemetryBatchMaxRows: true,
  commandDefaultTtlSeconds: true,
  commandMaxTtlSeconds: true,
  sessionTtlSeconds: true,
  artifactMaxBytes: true,
  outboundAllowList: true,
  webhookRetryScale: true,
  nodeId: true,
  secretKey: true,
  registrationTokenTtlSeconds: true,
  provisioningOperationTtlSeconds: true,
  tokenClockSkewSeconds: true,
  mqttMtlsPort: true,
  certificateValidityDays: true,
  mqttDrainTimeoutSeconds: true,
  // HTTPS hygiene
  httpHandshakeTimeoutSeconds: true,
  httpHeadersTimeoutSeconds: true,
  httpRequestTimeoutSeconds: true,
  httpUploadMinBytesPerSecond: true,
  httpIdleTimeoutSeconds: true,
  httpStrictTransportSecurity: true,
  securityContact: true,
  securityTxtExpires: true,
  // MQTT connection hygiene
  mqttHandshakeTimeoutSeconds: true,
  mqttConnectTimeoutSeconds: true,
  mqttMaxPacketBytes: true,
  mqttMaxKeepaliveSeconds: true,
  // Limits
  limits: true,
};

/** One year, no subdomains: every listener is HTTPS, but a sibling name may not be. */
const HSTS_DEFAULT = 'max-age=31536000';
const HSTS = /^max-age=\d{1,10}(?:;\s*includeSubDomains)?(?:;\s*preload)?$/i;

function checkHttpHygiene(config: Config): void {
  const hsts = config.httpStrictTransportSecurity;
  if (hsts !== 'off' && !HSTS.test(hsts))
    throw new ConfigError(
      `MOORING_HTTP_STRICT_TRANSPORT_SECURITY: must be 'off' or 'max-age=<seconds>' with optional '; includeSubDomains' and '; preload', got '${hsts}'`,
    );
  for (const uri of config.securityContact) {
    if (!/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+|tel:\+?[\d\-. ()]+)$/.test(uri))
      throw new ConfigError(
        `MOORING_SECURITY_CONTACT: '${uri}' is not a mailto:, https:// or tel: URI (RFC 9116 §2.5.3)`,
      );
  }
  const expires = config.securityTxtExpires;
  if (expires && (!/^\d{4}-\d{2}-\d{2}T/.test(expires) || Number.isNaN(Date.parse(expires))))
    throw new ConfigError(
      `MOORING_SECURITY_TXT_EXPIRES: must be an RFC 3339 date-time such as 2026-12-31T00:00:00Z, got '${expires}'`,
    );
}
