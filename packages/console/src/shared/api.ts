/**
 * The REST API as the console calls it: the same origin, the session cookie the browser keeps (never
 * visible here), and the session's CSRF token on every change. Answers and bodies are typed by the
 * API's own schemas (`@mooring/protocol`, imported for its types only: nothing of it is bundled).
 * Every refusal becomes an `ApiProblem` carrying the stable `code` and the members some codes add
 * (`attemptsLeft`, `retryAfterMs`, …): the screens branch on the code, never on the text.
 */
import type { BodyOf, ErrorCode, MANAGEMENT_OPERATIONS, QueryOf, ResponseOf } from '@mooring/protocol';

type Operations = typeof MANAGEMENT_OPERATIONS;
export type Answer<N extends keyof Operations> = ResponseOf<Operations[N]>;
export type Body<N extends keyof Operations> = BodyOf<Operations[N]>;
export type Query<N extends keyof Operations> = QueryOf<Operations[N]>;
export type Me = Answer<'me'>;
export type Operation = Answer<'listOperations'>['items'][number];
export type ProvisioningToken = Answer<'listProvisioningTokens'>['items'][number];
export type Device = Answer<'listDevices'>['items'][number];
export type DevicePage = Answer<'listDevices'>;
export type FleetVersions = Answer<'getFleetVersions'>;
/** What the device list is filtered by: its query without the paging members and the order. */
export type DeviceFilter = Omit<Query<'listDevices'>, 'cursor' | 'limit' | 'sort'>;
/** The orders the device list pages in (`GET /v1/devices?sort=`). */
export type DeviceSort = NonNullable<Query<'listDevices'>['sort']>;

/** A device's failure or refusal (`GET /v1/fleet/problems`), and how many of each kind. */
export type FleetProblem = Answer<'listFleetProblems'>['items'][number];
export type FleetProblemKind = FleetProblem['kind'];
export type FleetProblemCounts = Answer<'countFleetProblems'>;

/** A change to every device a filter matches (`POST /v1/devices/bulk`), and what it did. */
export type BulkRequest = Body<'bulkDevices'>;
export type BulkAction = BulkRequest['action'];
export type BulkResult = Answer<'bulkDevices'>;
/** A bulk revocation or configuration change runs as a job: its progress. */
export type BulkJob = Answer<'getDeviceBulkJob'>;

/** One device and what the device page shows of it. */
export type DeviceDetail = Answer<'getDevice'>;
export type PresenceEvent = Answer<'getPresence'>['items'][number];
export type LatestValue = Answer<'getLatestTelemetry'>['items'][number];
export type TelemetryPage = Answer<'getTelemetry'>;
export type Command = Answer<'getCommand'>;
export type CommandRequest = Body<'sendCommand'>;
export type DeviceConfig = Answer<'getDeviceConfig'>;
export type ConfigHistoryEntry = Answer<'listConfigHistory'>['items'][number];

/** Firmware deployments (`docs/ota.md`): what they roll out, to whom, and how far they got. */
export type Artifact = Answer<'listArtifacts'>['items'][number];
export type Deployment = Answer<'getDeployment'>;
export type DeploymentRequest = Body<'createDeployment'>;
export type DeploymentDevice = Answer<'listDeploymentDevices'>['items'][number];
export type EmergencyStop = Answer<'getEmergencyStop'>;

/** A refusal: the problem+json answer, or `NETWORK` when no answer came. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'NETWORK' | 'NOT_JSON',
    message: string,
    readonly members: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  /** A numeric member of the problem (`attemptsLeft`, `retryAfterMs`), if it has one. */
  number(name: string): number | undefined {
    const v = this.members[name];
    return typeof v === 'number' ? v : undefined;
  }
}

/** The CSRF token of the signed-in session (from the login answer or `GET /v1/auth/me`). */
let csrfToken: string | undefined;
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** One request to the API; a refusal is thrown as an `ApiProblem`. */
export async function call<T>(
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  extra: Readonly<Record<string, string>> = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...extra };
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiProblem(0, 'NETWORK', 'The server cannot be reached. Check the connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    throw new ApiProblem(res.status, 'NOT_JSON', `The server answered ${res.status} without JSON.`);
  }
  if (res.ok) return parsed as T;
  const p = (parsed ?? {}) as Record<string, unknown>;
  const text = typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : '';
  throw new ApiProblem(res.status, (p.code as ErrorCode) ?? 'NOT_JSON', text, p);
}

export const id = (value: string) => encodeURIComponent(value);

/** `?a=1&b=true` of the members that are set (booleans as `true`/`false`, as the API reads them). */
export function query(members: Readonly<Record<string, string | number | boolean | undefined>>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(members))
    if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The calls the console makes, by the API's operation names. */
export const api = {
  login: (body: Body<'login'>) => call<Answer<'login'>>('POST', '/v1/auth/login', body),
  logout: () => call<undefined>('POST', '/v1/auth/logout'),
  me: () => call<Me>('GET', '/v1/auth/me'),
  changePassword: (body: Body<'changePassword'>) => call<undefined>('POST', '/v1/auth/password', body),
  listOperations: (cursor?: string) =>
    call<Answer<'listOperations'>>(
      'GET',
      `/v1/provisioning/operations?status=pending&limit=50${cursor ? `&cursor=${id(cursor)}` : ''}`,
    ),
  listProvisioningTokens: () => call<Answer<'listProvisioningTokens'>>('GET', '/v1/provisioning-tokens'),
  approveOperation: (operationId: string, body: Body<'approveOperation'>) =>
    call<Answer<'approveOperation'>>('POST', `/v1/provisioning/operations/${id(operationId)}/approve`, body),
  rejectOperation: (operationId: string, body: Body<'rejectOperation'>) =>
    call<Answer<'rejectOperation'>>('POST', `/v1/provisioning/operations/${id(operationId)}/reject`, body),
  listDevices: (q: Query<'listDevices'>) => call<DevicePage>('GET', `/v1/devices${query(q)}`),
  getFleetVersions: () => call<FleetVersions>('GET', '/v1/fleet/versions'),
  listFleetProblems: (q: Query<'listFleetProblems'>) =>
    call<Answer<'listFleetProblems'>>('GET', `/v1/fleet/problems${query(q)}`),
  countFleetProblems: (q: Query<'countFleetProblems'>) =>
    call<FleetProblemCounts>('GET', `/v1/fleet/problems/counts${query(q)}`),
  /** Counts (`dryRun: true`) or changes the devices a filter matches. */
  bulkDevices: (body: BulkRequest) => call<BulkResult>('POST', '/v1/devices/bulk', body),
  getBulkJob: (jobId: string) => call<BulkJob>('GET', `/v1/devices/bulk/${encodeURIComponent(jobId)}`),
  getDevice: (deviceId: string) => call<DeviceDetail>('GET', `/v1/devices/${id(deviceId)}`),
  getPresence: (deviceId: string, limit: number) =>
    call<Answer<'getPresence'>>('GET', `/v1/devices/${id(deviceId)}/presence${query({ limit })}`),
  getLatestTelemetry: (deviceId: string) =>
    call<Answer<'getLatestTelemetry'>>('GET', `/v1/devices/${id(deviceId)}/telemetry/latest`),
  getTelemetry: (deviceId: string, q: Query<'getTelemetry'>) =>
    call<TelemetryPage>('GET', `/v1/devices/${id(deviceId)}/telemetry${query(q)}`),
  aggregateTelemetry: (deviceId: string, q: Query<'aggregateTelemetry'>) =>
    call<Answer<'aggregateTelemetry'>>('GET', `/v1/devices/${id(deviceId)}/telemetry/aggregate${query(q)}`),
  listCommands: (deviceId: string, q: Query<'listCommands'>) =>
    call<Answer<'listCommands'>>('GET', `/v1/devices/${id(deviceId)}/commands${query(q)}`),
  sendCommand: (deviceId: string, body: CommandRequest) =>
    call<Command>('POST', `/v1/devices/${id(deviceId)}/commands`, body),
  getDeviceConfig: (deviceId: string) => call<DeviceConfig>('GET', `/v1/devices/${id(deviceId)}/config`),
  /** A JSON merge patch of the desired document, based on `version` (409 when it is not current). */
  patchDesiredConfig: (deviceId: string, patch: Body<'patchDesiredConfig'>, version: number) =>
    call<DeviceConfig>('PATCH', `/v1/devices/${id(deviceId)}/config/desired`, patch, {
      'content-type': 'application/merge-patch+json',
      'if-match': `"${version}"`,
    }),
  listConfigHistory: (deviceId: string, q: Query<'listConfigHistory'>) =>
    call<Answer<'listConfigHistory'>>('GET', `/v1/devices/${id(deviceId)}/config/history${query(q)}`),
  listArtifacts: (q: Query<'listArtifacts'>) =>
    call<Answer<'listArtifacts'>>('GET', `/v1/artifacts${query(q)}`),
  listDeployments: (q: Query<'listDeployments'>) =>
    call<Answer<'listDeployments'>>('GET', `/v1/deployments${query(q)}`),
  createDeployment: (body: DeploymentRequest) => call<Deployment>('POST', '/v1/deployments', body),
  getDeployment: (deploymentId: string) => call<Deployment>('GET', `/v1/deployments/${id(deploymentId)}`),
  listDeploymentDevices: (deploymentId: string, q: Query<'listDeploymentDevices'>) =>
    call<Answer<'listDeploymentDevices'>>('GET', `/v1/deployments/${id(deploymentId)}/devices${query(q)}`),
  /** Pause, resume, abort or stop one deployment (`409 DEPLOYMENT_STATE_CONFLICT` when it does not apply). */
  deploymentAction: (deploymentId: string, action: 'pause' | 'resume' | 'abort' | 'stop', reason?: string) =>
    call<Deployment>('POST', `/v1/deployments/${id(deploymentId)}/${action}`, reason ? { reason } : {}),
  cancelDeploymentDevice: (deploymentId: string, deviceId: string) =>
    call<DeploymentDevice>('POST', `/v1/deployments/${id(deploymentId)}/devices/${id(deviceId)}/cancel`, {}),
  getEmergencyStop: () => call<EmergencyStop>('GET', '/v1/deployments/emergency-stop'),
  setEmergencyStop: (reason?: string) =>
    call<EmergencyStop>('POST', '/v1/deployments/emergency-stop', reason ? { reason } : {}),
  liftEmergencyStop: () => call<EmergencyStop>('DELETE', '/v1/deployments/emergency-stop'),
};
