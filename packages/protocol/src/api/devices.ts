/** The device registry, per-device access keys, presence history, and ownership transfer. */
import { Type } from '@sinclair/typebox';
import { HardwareClassSchema, SEMVER_OPTIONS, SemverSchema } from '../firmware.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  OpenObject,
  PageLimit,
  PageOf,
  Tag,
  operation,
} from './common.js';

export const Device = Answer({
  id: Type.String(),
  tenantId: Type.String(),
  serial: Nullable(Type.String({ description: "the manufacturer's serial, unique in the tenant" })),
  name: Type.String(),
  tags: Type.Array(Type.String()),
  metadata: OpenObject('free-form JSON object'),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled'), Type.Literal('released')], {
    description: 'released: handed over to another owner, kept as the old owner’s record',
  }),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  firmware: Nullable(
    Answer(
      { version: Type.String(), hardwareClass: Type.String(), reportedAt: EpochMs },
      { description: 'what the device last reported running; null: never reported' },
    ),
  ),
  presence: Answer({
    connected: Type.Boolean(),
    lastSeenAt: NullableEpochMs,
    lastConnectedAt: NullableEpochMs,
    lastDisconnectedAt: NullableEpochMs,
    lastDisconnectReason: Nullable(Type.String()),
  }),
});
export const AccessKey = Answer({
  id: Type.String(),
  deviceId: Type.String(),
  prefix: Type.String(),
  createdAt: EpochMs,
  lastUsedAt: NullableEpochMs,
  revokedAt: NullableEpochMs,
});
export const PresenceEvent = Answer({
  at: EpochMs,
  event: Type.Union([Type.Literal('connected'), Type.Literal('disconnected')]),
  reason: Nullable(Type.String()),
  remoteAddress: Nullable(Type.String()),
  transport: Nullable(Type.String()),
});

const Name = Type.String({ minLength: 1, maxLength: 128 });
const Metadata = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
  description: 'free-form JSON object, at most 8 KiB',
});
export const DeviceCreate = Type.Object(
  {
    name: Name,
    serial: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.:-]{1,64}$',
        description: "the manufacturer's serial, unique in the tenant",
      }),
    ),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);
export const DeviceUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    metadata: Type.Optional(Metadata),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
/** An instant a filter names: epoch milliseconds or an RFC 3339 date-time (as the audit query's `from`). */
const Instant = (description: string) =>
  Type.String({ minLength: 1, maxLength: 40, description: `epoch milliseconds or RFC 3339: ${description}` });
export const DeviceParams = Type.Object({ deviceId: IdParam });
export const AccessKeyParams = Type.Object({ deviceId: IdParam, keyId: IdParam });
/** The orders the device list pages in (docs/api.md#devices); `id` is the default. */
export const DEVICE_SORTS = ['id', 'name', '-lastSeen', 'lastSeen', 'firmwareVersion'] as const;
export type DeviceSort = (typeof DEVICE_SORTS)[number];
export const DeviceSortSchema = Type.Union(
  DEVICE_SORTS.map((s) => Type.Literal(s)),
  {
    description:
      'id: creation order (the default); name; -lastSeen: most recently seen first, never seen last; lastSeen: least recently seen first, never seen first; firmwareVersion: SemVer precedence, never reported last. Ties go by id (-lastSeen: newest id first). A cursor pages on only with the sort it was made for (else 400 INVALID_CURSOR)',
  },
);
export const DeviceListQuery = Type.Object(
  {
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
    sort: Type.Optional(DeviceSortSchema),
    tag: Type.Optional(Tag),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
    connected: Type.Optional(Type.Boolean()),
    firmwareVersion: Type.Optional(SemverSchema),
    hardwareClass: Type.Optional(HardwareClassSchema),
    belowVersion: Type.Optional(
      Type.String({
        ...SEMVER_OPTIONS,
        description: 'devices running a version below this one (SemVer precedence)',
      }),
    ),
    belowMinimum: Type.Optional(
      Type.Boolean({ description: 'true: devices below the minimum version of their hardware class' }),
    ),
    lastSeenBefore: Type.Optional(
      Instant(
        'devices not seen since this instant: last seen before it, or never seen (`neverSeen=false` leaves those out)',
      ),
    ),
    lastSeenAfter: Type.Optional(Instant('devices seen at or after this instant')),
    neverSeen: Type.Optional(
      Type.Boolean({
        description:
          'true: devices never seen (no connection, no message); false: devices seen at least once',
      }),
    ),
    certificateExpiresBefore: Type.Optional(
      Instant(
        'devices whose current certificate (the latest-expiring of those neither revoked nor awaiting approval) expires before this instant, expired ones included; a device without one never matches',
      ),
    ),
  },
  { additionalProperties: false },
);
/** The list's filters without its paging and order: which devices a bulk operation acts on. */
export const DeviceFilter = Type.Omit(DeviceListQuery, ['cursor', 'limit', 'sort'], {
  additionalProperties: false,
  description: 'the filters of GET /v1/devices; {} is every device of the tenant',
});
const BulkTags = Type.Array(Tag, { minItems: 1, maxItems: 32, uniqueItems: true });
export const DeviceBulkAction = Type.Union(
  [
    Type.Object(
      { type: Type.Literal('addTags'), tags: BulkTags },
      { additionalProperties: false, description: 'adds the tags each device does not have yet' },
    ),
    Type.Object(
      { type: Type.Literal('removeTags'), tags: BulkTags },
      { additionalProperties: false, description: 'removes these tags where present' },
    ),
    Type.Object(
      { type: Type.Literal('disable') },
      { additionalProperties: false, description: 'disables enabled devices and drops their sessions' },
    ),
    Type.Object(
      { type: Type.Literal('enable') },
      { additionalProperties: false, description: 'enables disabled devices' },
    ),
    Type.Object(
      { type: Type.Literal('revoke') },
      {
        additionalProperties: false,
        description:
          'revokes every credential of each device (certificates, access keys, registration tokens) and drops its sessions; cannot be undone; runs as a job (202)',
      },
    ),
    Type.Object(
      {
        type: Type.Literal('setDesiredConfig'),
        patch: Type.Record(Type.String(), Type.Unknown(), {
          description:
            'a JSON Merge Patch (RFC 7396) applied to each device’s desired configuration, as PATCH /v1/devices/{deviceId}/config/desired does',
        }),
      },
      {
        additionalProperties: false,
        description:
          'merges the patch into each device’s desired configuration; a device whose result its schemas refuse is skipped; runs as a job (202)',
      },
    ),
  ],
  { description: 'what to do to each matching device (released devices are never changed)' },
);
export const DeviceBulkRequest = Type.Object(
  {
    filter: DeviceFilter,
    action: DeviceBulkAction,
    dryRun: Type.Optional(
      Type.Boolean({
        description: 'true: count what would match and change, change nothing (default false)',
      }),
    ),
    expectMatched: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 2 ** 31 - 1,
        description:
          'the count a dry run showed: when the filter matches another number now, nothing is done (409 BULK_MATCH_CHANGED)',
      }),
    ),
  },
  { additionalProperties: false },
);
export const DeviceBulkResult = Answer({
  dryRun: Type.Boolean(),
  matched: Type.Integer({ description: 'devices the filter matches: what GET /v1/devices lists with it' }),
  wouldChange: Type.Integer({
    description: 'of those, the devices the action changes (the rest are as asked already)',
  }),
  changed: Type.Integer({ description: 'devices changed (0 on a dry run)' }),
});
export const DeviceBulkJobStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('done'),
  Type.Literal('failed'),
]);
export const DeviceBulkJob = Answer(
  {
    id: Type.String(),
    action: Type.Union([Type.Literal('revoke'), Type.Literal('setDesiredConfig')]),
    status: DeviceBulkJobStatus,
    filter: Type.Record(Type.String(), Type.Unknown(), { description: 'the filter as requested' }),
    createdBy: Type.String({ description: 'who asked for it: user:…, api-key:…' }),
    matched: Type.Integer({
      description: 'the devices the filter matched when it was requested: the job acts on exactly these',
    }),
    processed: Type.Integer({ description: 'of those, the devices worked through so far' }),
    changed: Type.Integer({ description: 'devices changed (a credential revoked, a new desired version)' }),
    skipped: Type.Integer({
      description:
        'devices left as they were because the change does not fit them (schema violation, size limit) or they are gone or released',
    }),
    skippedDevices: Type.Array(
      Answer({ deviceId: Type.String(), code: Type.String(), message: Type.String() }),
      { description: 'the first skipped devices (at most 20), with why' },
    ),
    createdAt: EpochMs,
    startedAt: NullableEpochMs,
    finishedAt: NullableEpochMs,
    error: Nullable(Type.String({ description: 'why a failed job stopped' })),
  },
  { description: 'a bulk operation worked through in chunks (docs/api.md#bulk-operations)' },
);
export const DeviceBulkAccepted = Answer({
  dryRun: Type.Literal(false),
  matched: Type.Integer(),
  wouldChange: Type.Integer(),
  changed: Type.Integer({ description: '0: the job changes the devices; read its progress' }),
  job: DeviceBulkJob,
});
export const DeviceBulkJobParams = Type.Object({ jobId: IdParam });

export const PresenceQuery = Type.Object(
  { limit: Type.Optional(PageLimit) },
  { additionalProperties: false },
);

export const DeviceRelease = Type.Object(
  {
    keepData: Type.Boolean({
      description: 'true: keep the released record and its data for your own history; false: delete them',
    }),
  },
  { additionalProperties: false },
);
export const DeviceClaim = Type.Object(
  {
    claimCode: Type.String({ minLength: 1, maxLength: 128 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export const ReleaseResult = Answer({
  claimCode: Type.String({ description: 'shown once; hand it to the new owner' }),
  expiresAt: EpochMs,
  device: Nullable(Device),
});

export const deviceOperations = {
  createDevice: operation({
    method: 'POST',
    path: '/v1/devices',
    body: DeviceCreate,
    responses: { 201: Device },
  }),
  listDevices: operation({
    method: 'GET',
    path: '/v1/devices',
    query: DeviceListQuery,
    responses: { 200: PageOf(Device) },
  }),
  bulkDevices: operation({
    method: 'POST',
    path: '/v1/devices/bulk',
    body: DeviceBulkRequest,
    responses: { 200: DeviceBulkResult, 202: DeviceBulkAccepted },
  }),
  getDeviceBulkJob: operation({
    method: 'GET',
    path: '/v1/devices/bulk/{jobId}',
    params: DeviceBulkJobParams,
    responses: { 200: DeviceBulkJob },
  }),
  getDevice: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}',
    params: DeviceParams,
    responses: { 200: Device },
  }),
  updateDevice: operation({
    method: 'PATCH',
    path: '/v1/devices/{deviceId}',
    params: DeviceParams,
    body: DeviceUpdate,
    responses: { 200: Device },
  }),
  deleteDevice: operation({
    method: 'DELETE',
    path: '/v1/devices/{deviceId}',
    params: DeviceParams,
    responses: { 204: NoContent },
  }),
  disableDevice: operation({
    method: 'POST',
    path: '/v1/devices/{deviceId}/disable',
    params: DeviceParams,
    responses: { 200: Device },
  }),
  enableDevice: operation({
    method: 'POST',
    path: '/v1/devices/{deviceId}/enable',
    params: DeviceParams,
    responses: { 200: Device },
  }),
  createAccessKey: operation({
    method: 'POST',
    path: '/v1/devices/{deviceId}/access-keys',
    params: DeviceParams,
    responses: {
      201: Answer({ accessKey: AccessKey, secret: Type.String({ description: 'dak_…; shown once' }) }),
    },
  }),
  listAccessKeys: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/access-keys',
    params: DeviceParams,
    responses: { 200: ItemsOf(AccessKey) },
  }),
  revokeAccessKey: operation({
    method: 'DELETE',
    path: '/v1/devices/{deviceId}/access-keys/{keyId}',
    params: AccessKeyParams,
    responses: { 204: NoContent },
  }),
  getPresence: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/presence',
    params: DeviceParams,
    query: PresenceQuery,
    responses: { 200: ItemsOf(PresenceEvent) },
  }),
  releaseDevice: operation({
    method: 'POST',
    path: '/v1/devices/{deviceId}/release',
    params: DeviceParams,
    body: DeviceRelease,
    responses: { 200: ReleaseResult },
  }),
  claimDevice: operation({
    method: 'POST',
    path: '/v1/devices/claim',
    body: DeviceClaim,
    responses: { 201: Device },
  }),
};
