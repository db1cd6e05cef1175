/** What routes see: the services, and the request's authenticated caller. */
import type { ConfigService } from '../../domains/config/config.js';
import type { BridgeService } from '../../domains/bridges/bridges.js';
import type { WebhookService } from '../../domains/webhooks/webhooks.js';
import type { AlertService } from '../../domains/alerts/alerts.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CommandService } from '../../domains/commands/commands.js';
import type {
  AuthenticatedDevice,
  DeviceBulkJobService,
  DeviceService,
} from '../../domains/devices/devices.js';
import type { PresenceService } from '../../domains/presence/presence.js';
import type { ProvisioningService } from '../../domains/provisioning/provisioning.js';
import type { PkiService } from '../../domains/pki/pki.js';
import type { OwnershipService } from '../../domains/ownership/ownership.js';
import type { FactoryService } from '../../domains/provisioning/factory.js';
import type { AuditService } from '../../domains/audit/audit.js';
import type { TimeSigner } from '../../domains/time/signer.js';
import type { FleetProblemService, FleetService } from '../../domains/fleet/fleet.js';
import type { TelemetryService } from '../../domains/telemetry/telemetry.js';
import type { PlatformCaller, TenancyService } from '../../domains/tenancy/tenancy.js';
import type { SelfCaller, UserService } from '../../domains/users/users.js';
import type { ApiKeyService } from '../../domains/api-keys/api-keys.js';
import type { RoleService } from '../../domains/access/access.js';
import type { ArtifactService } from '../../domains/artifacts/artifacts.js';
import type { DeploymentService, OtaDeviceService } from '../../domains/deployments/deployments.js';
import { AppError } from '../../errors.js';
import { parseInstant } from '@mooring/protocol';
import type { Principal, TenantCaller } from '../../platform/caller.js';
import type { Db } from '../../store/db.js';
import type { Metrics } from '../../platform/observability.js';
import type { CsrfTokens } from '../../platform/csrf.js';
import type { Limiter } from '../../platform/limits/limits.js';
import type { LimitService } from '../../domains/limits/limits.js';
import type { LimitEventLog } from '../../domains/limits/event-log.js';

export interface Services {
  tenancy: TenancyService;
  users: UserService;
  apiKeys: ApiKeyService;
  roles: RoleService;
  /** Resolves a person's or program's bearer credential (session token or API key). */
  authenticateBearer(token: string, source: string | null): Promise<Principal>;
  provisioning: ProvisioningService;
  pki: PkiService;
  ownership: OwnershipService;
  factory: FactoryService;
  audit: AuditService;
  time: TimeSigner;
  /** The node's limiter (platform/limits): REST requests per address and per credential, and the domains' limits. */
  limits: Limiter;
  /** Limit overrides and the list of limit events. */
  limitSettings: LimitService;
  /** Where refusals by a limit are recorded (bounded, never waited for). */
  limitEvents: Pick<LimitEventLog, 'exceeded'>;
  /** Resolves a device credential (access key or registration token). */
  authenticateDevice(secret: string, claimedDeviceId?: string): Promise<AuthenticatedDevice>;
  devices: DeviceService;
  deviceBulk: DeviceBulkJobService;
  fleet: FleetService;
  fleetProblems: FleetProblemService;
  telemetry: TelemetryService;
  commands: CommandService;
  presence: PresenceService;
  artifacts: ArtifactService;
  deployments: DeploymentService;
  ota: OtaDeviceService;
  config: ConfigService;
  bridges: BridgeService;
  webhooks: WebhookService;
  alerts: AlertService;
}

/** Which credential a route takes. Every route declares one; `none` is for health, login and the spec. */
/** `session` is a login session of any user (tenant user or platform administrator), not an API key. */
export type AuthMode = 'none' | 'session' | 'platform-admin' | 'tenant' | 'device' | 'provisioning';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthMode;
    /**
     * The handler commits its own work in chunks (bulk work that must not hold the store for its
     * whole length): it does not run in the request's transaction, and its record follows it.
     */
    ownTransactions?: boolean;
    /**
     * An action with no logged-in caller that its service records (invitation acceptance, password
     * reset): the handler runs in one transaction, so that the record commits with it or neither does.
     */
    recordedByService?: boolean;
    /** The body is handed to the handler as a stream (`application/octet-stream` uploads). */
    streamedBody?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** On `provisioning` routes: the provisioning token, checked by the provisioning service. */
    provisioningToken?: string;
    device?: AuthenticatedDevice;
    /** The session was named by the session cookie (`session-cookie.ts`), not a bearer credential. */
    sessionCookie?: boolean;
    /** What the action came to (counts, the id of what it started), kept in its audit record. */
    auditResult?: Record<string, unknown>;
  }
}

export interface RouteContext {
  services: Services;
  db: Db;
  metrics: Metrics;
  /** The CSRF tokens of cookie sessions. */
  csrf: CsrfTokens;
}

export type RoutePlugin = (app: FastifyInstance, ctx: RouteContext) => void;

/** The tenant caller of a request on a `tenant` route. */
export function tenantCaller(request: FastifyRequest): TenantCaller {
  const p = request.principal;
  if (!p || p.kind === 'platform-admin' || p.kind === 'device')
    throw new AppError('FORBIDDEN', 'this route needs a tenant credential');
  return { tenantId: p.tenantId, principal: p };
}

/** The platform administrator of a request on a `platform-admin` route. */
export function platformCaller(request: FastifyRequest): PlatformCaller & TenantCaller {
  const p = request.principal;
  if (!p || p.kind !== 'platform-admin')
    throw new AppError('FORBIDDEN', 'this route is for platform administrators');
  return { tenantId: '', principal: p };
}

/** The platform administrator acting on one tenant (bootstrapping its first users and keys). */
export function platformCallerFor(request: FastifyRequest, tenantId: string): TenantCaller {
  return { ...platformCaller(request), tenantId };
}

/** The logged-in user of a request on a `session` route. */
export function selfCaller(request: FastifyRequest): SelfCaller {
  const p = request.principal;
  if (!p || (p.kind !== 'user' && p.kind !== 'platform-admin') || !p.sessionId)
    throw new AppError('FORBIDDEN', 'this route needs a login session');
  return { userId: p.userId, sessionId: p.sessionId };
}

export function deviceOf(request: FastifyRequest): AuthenticatedDevice {
  if (!request.device) throw new AppError('UNAUTHENTICATED');
  return request.device;
}

/** Accepts epoch milliseconds or an RFC 3339 date-time, up to 9999-12-31 (`parseInstant`). */
export function parseTime(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const ms = parseInstant(value);
  if (ms === undefined)
    throw new AppError('VALIDATION_FAILED', `${name} must be epoch milliseconds or an RFC 3339 date-time`, {
      errors: [{ path: `querystring:/${name}`, message: 'not a time' }],
    });
  return ms;
}
