/**
 * Every limit Mooring enforces, by name: what it counts (unit), for whom (scope), over which window,
 * and its default. A refusal names the limit by these names (`RATE_LIMITED` and the other 429/423
 * answers carry `limit` and `scope`), so an operator can look it up here, in docs/operations.md
 * ("Limits") and in the server's settings. Limits kept by the limiter take their defaults from the
 * configuration (`MOORING_LIMIT_<NAME>`, config file `limits`); per-tenant and per-device overrides
 * come through a `LimitResolver` (limits.ts). Limits marked `state: 'store'` are counted in the
 * database by their domain (so that every node sharing it sees the same count) and are not settings;
 * `state: 'setting'` ones bound a single unit (one packet) by a setting of their own.
 */

/** Whom a limit's count belongs to. */
export type LimitScope =
  | 'tenant'
  | 'device'
  | 'api-key'
  | 'address'
  | 'client-id'
  | 'listener'
  | 'connection'
  | 'user-name'
  | 'provisioning-token';

/** What a limit counts. */
export type LimitUnit =
  | 'requests'
  | 'connections'
  | 'connects'
  | 'messages'
  | 'bytes'
  | 'commands'
  | 'writes'
  | 'deliveries'
  | 'failures'
  | 'operations'
  | 'subscriptions';

export interface LimitSpec {
  readonly scope: LimitScope;
  readonly unit: LimitUnit;
  /**
   * The fixed window the count covers, in ms: it starts with the first unit counted for a subject and
   * the count starts again from zero when it ends. Null for a cap on how many exist at once (open
   * connections, messages in flight), which its owner counts up and down.
   */
  readonly windowMs: number | null;
  /** How many units the window (or the cap) allows when no setting or override says otherwise. */
  readonly defaultValue: number;
  /**
   * `limiter`: kept by the limiter (memory today) and a setting; `store`: counted in the database by its
   * domain; `setting`: a bound on one unit, checked against a server setting of its own (named in
   * docs/operations.md), not counted and not overridable.
   */
  readonly state: 'limiter' | 'store' | 'setting';
  readonly description: string;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const LIMITS = {
  'mqtt.connections_per_tenant': {
    scope: 'tenant',
    unit: 'connections',
    windowMs: null,
    defaultValue: 10_000,
    state: 'limiter',
    description: 'MQTT connections of one tenant open at once',
  },
  'mqtt.connects_per_client_id': {
    scope: 'client-id',
    unit: 'connects',
    windowMs: MINUTE,
    defaultValue: 20,
    state: 'limiter',
    description:
      'CONNECTs with one client id per minute (a reconnect loop, or two holders of one credential)',
  },
  'mqtt.pending_connections_per_address': {
    scope: 'address',
    unit: 'connections',
    windowMs: null,
    // Far above one device (or a gateway's few), room for a NAT address whose devices reconnect at
    // once (each holds a place for only its handshake and CONNECT), and a bound on idle sockets.
    defaultValue: 100,
    state: 'limiter',
    description:
      'MQTT connections of one address not yet answered with CONNACK (TLS handshake and CONNECT under way), all MQTT listeners together',
  },
  'mqtt.connects_per_listener': {
    scope: 'listener',
    unit: 'connects',
    windowMs: SECOND,
    defaultValue: 500,
    state: 'limiter',
    description: 'CONNECTs per second on one MQTT listener (TLS, mutual TLS, WebSocket)',
  },
  'mqtt.subscriptions_per_connection': {
    scope: 'connection',
    unit: 'subscriptions',
    windowMs: null,
    // A device may hold four filters (docs/mqtt.md); a connection that asks for dozens is probing or
    // broken. The value AWS IoT Core uses per connection.
    defaultValue: 50,
    state: 'limiter',
    description:
      'topic filters one MQTT connection has asked for in SUBSCRIBE (granted or refused) and not unsubscribed',
  },
  'mqtt.bytes_per_packet': {
    scope: 'connection',
    unit: 'bytes',
    windowMs: null,
    defaultValue: 128 * 1024,
    state: 'setting',
    description:
      'bytes one MQTT packet may announce (its remaining length); set by MOORING_MQTT_MAX_PACKET_BYTES',
  },
  'mqtt.messages_per_device': {
    scope: 'device',
    unit: 'messages',
    windowMs: SECOND,
    defaultValue: 100,
    state: 'limiter',
    description: 'PUBLISHes per second from one device',
  },
  'mqtt.bytes_per_device': {
    scope: 'device',
    unit: 'bytes',
    windowMs: SECOND,
    defaultValue: 256 * 1024,
    state: 'limiter',
    description: 'PUBLISH payload bytes per second from one device',
  },
  'mqtt.bytes_per_tenant_day': {
    scope: 'tenant',
    unit: 'bytes',
    windowMs: 24 * 60 * MINUTE,
    defaultValue: 10 * 1024 ** 3,
    state: 'limiter',
    description: 'PUBLISH payload bytes per day from all devices of one tenant',
  },
  'mqtt.inflight_qos1_per_connection': {
    scope: 'connection',
    unit: 'messages',
    windowMs: null,
    defaultValue: 100,
    state: 'limiter',
    description: 'QoS 1 PUBLISHes of one connection received and not yet acknowledged',
  },
  'commands.created_per_device': {
    scope: 'device',
    unit: 'commands',
    windowMs: MINUTE,
    defaultValue: 60,
    state: 'limiter',
    description: 'commands sent to one device per minute',
  },
  'config.writes_per_device': {
    scope: 'device',
    unit: 'writes',
    windowMs: MINUTE,
    defaultValue: 60,
    state: 'limiter',
    description: 'writes of one device’s desired configuration per minute',
  },
  'webhooks.deliveries_per_tenant': {
    scope: 'tenant',
    unit: 'deliveries',
    windowMs: MINUTE,
    defaultValue: 1200,
    state: 'limiter',
    description: 'webhook deliveries (requests to receivers) per minute for one tenant; later ones wait',
  },
  'rest.requests_per_address': {
    scope: 'address',
    unit: 'requests',
    windowMs: 10 * SECOND,
    // 500/s from one address: far above a person, the CLI or a test, and room for many devices behind
    // one NAT address (each is limited by its credential too); about a third of what one node serves.
    defaultValue: 5000,
    state: 'limiter',
    description:
      'HTTP requests from one address per 10 s, counted before authentication (health and metrics are not counted)',
  },
  'rest.requests_per_key': {
    scope: 'api-key',
    unit: 'requests',
    windowMs: 10 * SECOND,
    defaultValue: 1000,
    state: 'limiter',
    description:
      'HTTP requests per 10 s made with one credential: an API key, a login session or a device credential',
  },
  'auth.failed_logins_per_address': {
    scope: 'address',
    unit: 'failures',
    windowMs: MINUTE,
    defaultValue: 20,
    state: 'limiter',
    description: 'failed logins from one address per minute; further logins from it wait for the window',
  },
  'auth.failed_logins_per_user_name': {
    scope: 'user-name',
    unit: 'failures',
    windowMs: 15 * MINUTE,
    defaultValue: 5,
    state: 'store',
    description:
      'failed logins for one user name in 15 minutes, which lock the name for 15 minutes (ACCOUNT_LOCKED)',
  },
  'provisioning.operations_per_device_token': {
    scope: 'provisioning-token',
    unit: 'operations',
    windowMs: 10 * MINUTE,
    defaultValue: 5,
    state: 'store',
    description:
      'provisioning operations one device provisioning token may start in 10 minutes (TOO_MANY_OPERATIONS)',
  },
  'provisioning.pending_per_batch_token': {
    scope: 'provisioning-token',
    unit: 'operations',
    windowMs: null,
    defaultValue: 10,
    state: 'store',
    description:
      'pending operations of one batch provisioning token: fewer than 2 × its remaining uses + 10 (TOO_MANY_OPERATIONS)',
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMITS;

/** The limits that are settings (kept by the limiter): their values by name. */
export type ConfigurableLimit = {
  [K in LimitName]: (typeof LIMITS)[K]['state'] extends 'limiter' ? K : never;
}[LimitName];
export type LimitValues = Readonly<Record<ConfigurableLimit, number>>;

export const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];
export const CONFIGURABLE_LIMITS = LIMIT_NAMES.filter(
  (n): n is ConfigurableLimit => LIMITS[n].state === 'limiter',
);

export function limitSpec(name: LimitName): LimitSpec {
  return LIMITS[name];
}

/** The environment variable that sets a limit's default: `rest.requests_per_key` → `MOORING_LIMIT_REST_REQUESTS_PER_KEY`. */
export function limitEnvName(name: ConfigurableLimit): string {
  return `MOORING_LIMIT_${name.replace(/[.]/g, '_').toUpperCase()}`;
}

export const DEFAULT_LIMIT_VALUES: LimitValues = Object.freeze(
  Object.fromEntries(CONFIGURABLE_LIMITS.map((n) => [n, LIMITS[n].defaultValue])) as Record<
    ConfigurableLimit,
    number
  >,
);

/** "per 10 s", "per minute", "per day", "at once": a window in words. */
export function windowWords(windowMs: number | null): string {
  if (windowMs === null) return 'at once';
  if (windowMs === SECOND) return 'per second';
  if (windowMs === MINUTE) return 'per minute';
  if (windowMs === 24 * 60 * MINUTE) return 'per day';
  if (windowMs % MINUTE === 0) return `per ${windowMs / MINUTE} minutes`;
  return `per ${windowMs / SECOND} s`;
}

/**
 * Where a limit may be overridden: `device` (per tenant and per device), `tenant` (per tenant only),
 * or null. Only limits kept by the limiter whose count belongs to a tenant can be: an address's, a
 * listener's or a client id's count is made before anyone knows the tenant. A device override needs
 * a subject that names its device (the device's own count, its connection, or its credential's).
 */
export function overridableAt(name: LimitName): 'tenant' | 'device' | null {
  const spec: LimitSpec = LIMITS[name];
  if (spec.state !== 'limiter') return null;
  if (spec.scope === 'device' || spec.scope === 'connection' || spec.scope === 'api-key') return 'device';
  if (spec.scope === 'tenant') return 'tenant';
  return null;
}

export function isLimitName(name: string): name is LimitName {
  return Object.prototype.hasOwnProperty.call(LIMITS, name);
}
