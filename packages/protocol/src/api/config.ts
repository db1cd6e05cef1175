/** The configuration twin over REST: operators read and patch it; devices poll and report. */
import { Type } from '@sinclair/typebox';
import { DesiredConfigMessageSchema, ReportedConfigMessageSchema } from '../config.js';
import {
  Answer,
  Cursor,
  EpochMs,
  ItemsOf,
  NoContent,
  NullableEpochMs,
  PageLimit,
  PageOf,
  Tag,
  operation,
} from './common.js';
import { DeviceParams } from './devices.js';

const Document = Type.Record(Type.String(), Type.Unknown(), { description: 'a JSON object' });
const MemberMeta = Type.Object({
  version: Type.Integer({ description: 'the version that last changed this member' }),
  at: EpochMs,
  by: Type.String({ description: 'who changed it: user:…, api-key:…, device:…' }),
});
const Side = Type.Object({
  version: Type.Integer({ minimum: 0 }),
  document: Document,
  metadata: Type.Record(Type.String(), MemberMeta, { description: 'per top-level member' }),
  updatedAt: NullableEpochMs,
});
export const DeviceConfigAnswer = Answer({
  deviceId: Type.String(),
  desired: Side,
  reported: Side,
  acknowledgedVersion: Type.Integer({
    minimum: 0,
    description: 'the desired version the device last applied',
  }),
  acknowledgedAt: NullableEpochMs,
  pending: Type.Record(Type.String(), Type.Unknown(), {
    description: 'desired members whose value the reported document does not hold',
  }),
});
export const ConfigSideName = Type.Union([Type.Literal('desired'), Type.Literal('reported')]);
export const ConfigHistoryEntry = Answer({
  side: ConfigSideName,
  version: Type.Integer({ minimum: 1 }),
  patch: Document,
  before: Document,
  after: Document,
  actor: Type.String(),
  at: EpochMs,
});
export const ConfigHistoryQuery = Type.Object(
  { side: Type.Optional(ConfigSideName), cursor: Type.Optional(Cursor), limit: Type.Optional(PageLimit) },
  { additionalProperties: false },
);
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      pattern: '^(W/)?"?[0-9]{1,15}"?$',
      description: 'the desired version the change is based on (CONFIG_VERSION_CONFLICT when not current)',
    }),
  ),
});
export const ConfigSchemaName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });
export const ConfigSchemaParams = Type.Object({ schemaName: ConfigSchemaName });
export const ConfigSchemaPut = Type.Object(
  {
    tag: Tag,
    schema: Type.Record(Type.String(), Type.Unknown(), { description: 'a JSON Schema (draft 2020-12)' }),
  },
  { additionalProperties: false },
);
export const ConfigSchemaCreate = Type.Object(
  {
    name: ConfigSchemaName,
    tag: Tag,
    schema: Type.Record(Type.String(), Type.Unknown(), { description: 'a JSON Schema (draft 2020-12)' }),
  },
  { additionalProperties: false },
);
export const ConfigSchemaAnswer = Answer({
  name: Type.String(),
  tag: Type.String(),
  schema: Document,
  createdAt: EpochMs,
  updatedAt: EpochMs,
});
export const DesiredPollQuery = Type.Object(
  {
    version: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'the desired version the device holds (0: none)',
      }),
    ),
    waitSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 60, description: 'how long to wait for a change (long poll)' }),
    ),
  },
  { additionalProperties: false },
);
export const ConfigReportAnswer = Answer({
  acknowledgedVersion: Type.Integer({ minimum: 0 }),
  reportedVersion: Type.Integer({ minimum: 0 }),
});

export const configOperations = {
  getDeviceConfig: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/config',
    params: DeviceParams,
    responses: { 200: DeviceConfigAnswer },
  }),
  patchDesiredConfig: operation({
    method: 'PATCH',
    path: '/v1/devices/{deviceId}/config/desired',
    params: DeviceParams,
    headers: IfMatchHeaders,
    body: Document,
    responses: { 200: DeviceConfigAnswer },
  }),
  listConfigHistory: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/config/history',
    params: DeviceParams,
    query: ConfigHistoryQuery,
    responses: { 200: PageOf(ConfigHistoryEntry) },
  }),
  listConfigSchemas: operation({
    method: 'GET',
    path: '/v1/config-schemas',
    responses: { 200: ItemsOf(ConfigSchemaAnswer) },
  }),
  createConfigSchema: operation({
    method: 'POST',
    path: '/v1/config-schemas',
    body: ConfigSchemaCreate,
    responses: { 201: ConfigSchemaAnswer },
  }),
  putConfigSchema: operation({
    method: 'PUT',
    path: '/v1/config-schemas/{schemaName}',
    params: ConfigSchemaParams,
    body: ConfigSchemaPut,
    responses: { 200: ConfigSchemaAnswer },
  }),
  deleteConfigSchema: operation({
    method: 'DELETE',
    path: '/v1/config-schemas/{schemaName}',
    params: ConfigSchemaParams,
    responses: { 204: NoContent },
  }),
};

export const deviceConfigOperations = {
  pollDesiredConfig: operation({
    method: 'GET',
    path: '/v1/device/config/desired',
    query: DesiredPollQuery,
    responses: { 200: DesiredConfigMessageSchema, 204: NoContent },
  }),
  reportConfig: operation({
    method: 'POST',
    path: '/v1/device/config/reported',
    body: ReportedConfigMessageSchema,
    responses: { 200: ConfigReportAnswer },
  }),
};
