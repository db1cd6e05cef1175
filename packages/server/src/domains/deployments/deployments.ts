/**
 * Deployments (docs/ota.md): an artifact rolled out to a snapshot of the devices a target names, in
 * phases with a soak time each, stopped by a status rule (too many failed executions) or paused by a
 * health gate (the updated devices reboot, drop off or crash more than a control cohort not yet
 * updated), paused, resumed, aborted or stopped by an operator, and stopped for the whole tenant by
 * an emergency stop. Every device's part is an operation whose every state has a deadline.
 *
 * All of it lives in the store; the orchestrator (`orchestrator.ts`) is a leased job that moves each
 * active deployment on: timeouts, phases, the gate, offers. The contract; `service.ts` implements it.
 */
import type { OtaMessage, OtaState } from '@mooring/protocol';
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export type DeploymentStatus = 'active' | 'paused' | 'completed' | 'aborted' | 'stopped';

export interface DeploymentTarget {
  tags?: string[];
  deviceIds?: string[];
  versions?: string[];
  belowVersion?: string;
}

export interface PhaseInput {
  percent: number;
  soakSeconds?: number;
}

export interface HealthGateInput {
  enabled?: boolean;
  marginPercent?: number;
  minSample?: number;
  windowSeconds?: number;
  maxReboots?: number;
  telemetry?: { key: string; worseWhen: 'higher' | 'lower'; marginPercent: number };
}

export type TimeoutState =
  'offered' | 'accepted' | 'deferred' | 'downloading' | 'downloaded' | 'installing' | 'rebooting';

export interface MaintenanceWindow {
  cron: string;
  durationMinutes: number;
  timezone?: string;
}

export interface DeploymentCreate {
  artifactId: string;
  name?: string;
  target: DeploymentTarget;
  phases?: PhaseInput[];
  maxInFlight?: number;
  rate?: { perMinute: number; factor?: number; increaseEvery?: number };
  statusRule?: { failurePercent: number; minExecutions: number };
  healthGate?: HealthGateInput;
  timeouts?: Partial<Record<TimeoutState, number>>;
  retries?: { max: number; backoffSeconds?: number };
  maintenanceWindow?: MaintenanceWindow;
}

/** What a deployment resolved to at creation: every default filled in. */
export interface DeploymentSettings {
  version: string;
  hardwareClass: string;
  phases: { percent: number; soakSeconds: number; devices: number }[];
  maxInFlight: number | null;
  rate: { perMinute: number; factor: number; increaseEvery: number } | null;
  statusRule: { failurePercent: number; minExecutions: number };
  healthGate: Required<Omit<HealthGateInput, 'telemetry'>> & {
    telemetry: HealthGateInput['telemetry'] | null;
  };
  timeouts: Record<TimeoutState, number>;
  retries: { max: number; backoffSeconds: number };
  maintenanceWindow: MaintenanceWindow | null;
}

export interface HealthCohort {
  devices: number;
  rebooting: number;
  offline: number;
  crashing: number;
  unhealthy: number;
  unhealthyPercent: number;
  telemetryMean: number | null;
}

export interface HealthComparison {
  at: number;
  updated: HealthCohort;
  control: HealthCohort;
  verdict: 'pass' | 'fail' | 'insufficient';
  reason: string;
}

export interface Deployment {
  id: string;
  tenantId: string;
  name: string | null;
  artifactId: string;
  version: string;
  hardwareClass: string;
  status: DeploymentStatus;
  statusCode: string | null;
  statusReason: string | null;
  target: DeploymentTarget;
  phases: DeploymentSettings['phases'];
  currentPhase: number;
  phaseStartedAt: number | null;
  soakUntil: number | null;
  total: number;
  excluded: Record<string, number>;
  counts: Record<string, number>;
  executions: number;
  failures: number;
  maxInFlight: number | null;
  rate: DeploymentSettings['rate'];
  statusRule: DeploymentSettings['statusRule'];
  healthGate: DeploymentSettings['healthGate'];
  health: HealthComparison | null;
  timeouts: Record<string, number>;
  retries: DeploymentSettings['retries'];
  maintenanceWindow: MaintenanceWindow | null;
  createdAt: number;
  createdBy: string | null;
  updatedAt: number;
  finishedAt: number | null;
}

export interface DeploymentDevice {
  deviceId: string;
  operationId: string;
  state: OtaState;
  attempt: number;
  phase: number;
  progress: number | null;
  code: string | null;
  reason: string | null;
  fromVersion: string | null;
  stateSince: number | null;
  deadlineAt: number | null;
  nextAttemptAt: number | null;
  updatedAt: number;
}

export interface EmergencyStop {
  active: boolean;
  since: number | null;
  by: string | null;
  reason: string | null;
  stoppedDeployments?: number;
}

export interface DeploymentService {
  create(caller: TenantCaller, input: DeploymentCreate): Promise<Deployment>;
  list(
    caller: TenantCaller,
    q: { status?: DeploymentStatus; limit?: number; cursor?: string },
  ): Promise<Page<Deployment>>;
  get(caller: TenantCaller, deploymentId: string): Promise<Deployment>;
  devices(
    caller: TenantCaller,
    deploymentId: string,
    q: { state?: OtaState; limit?: number; cursor?: string },
  ): Promise<Page<DeploymentDevice>>;
  pause(caller: TenantCaller, deploymentId: string, reason?: string): Promise<Deployment>;
  resume(caller: TenantCaller, deploymentId: string, reason?: string): Promise<Deployment>;
  abort(caller: TenantCaller, deploymentId: string, reason?: string): Promise<Deployment>;
  /** The emergency stop of one deployment: no new offer, a cancel to every device not yet installing. */
  stop(caller: TenantCaller, deploymentId: string, reason?: string): Promise<Deployment>;
  cancelDevice(
    caller: TenantCaller,
    deploymentId: string,
    deviceId: string,
    reason?: string,
  ): Promise<DeploymentDevice>;
  emergencyStop(caller: TenantCaller): Promise<EmergencyStop>;
  /** Stops every running deployment of the tenant and keeps new ones from starting until lifted. */
  setEmergencyStop(caller: TenantCaller, reason?: string): Promise<EmergencyStop>;
  liftEmergencyStop(caller: TenantCaller): Promise<EmergencyStop>;
}

/** The device side of operations (MQTT and the HTTPS device API). */
export interface OtaDeviceService {
  /** The device's open offers and unacknowledged cancels, by item id (`{operationId}:{attempt}:{type}`). */
  messagesFor(device: DeviceIdentity): Promise<{ id: string; message: OtaMessage }[]>;
  /**
   * A progress report; OTA_OPERATION_NOT_OPEN when it does not follow the operation's state. Throws
   * INVALID_OTA_REPORT synchronously for a payload that is not a report (so the broker refuses it
   * before anything is read or stored), as `FleetService.report` does.
   */
  report(
    device: DeviceIdentity,
    operationId: string,
    payload: unknown,
  ): Promise<{ operationId: string; attempt: number; state: OtaState }>;
  /** Whether the device holds an open offer of this artifact (it may download it). */
  mayDownload(device: DeviceIdentity, artifactId: string): Promise<boolean>;
}

/** One pass of the orchestrator over every active deployment; returns how many offers it made. */
export interface Orchestrator {
  tick(): Promise<{ offered: number; timedOut: number }>;
}
