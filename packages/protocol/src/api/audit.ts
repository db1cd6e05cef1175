/** The audit trail: query, export as JSON lines, and verify the hash chain. */
import { Type } from '@sinclair/typebox';
import {
  Answer,
  Cursor,
  EpochMs,
  Nullable,
  OpenObject,
  PageLimit,
  PageOf,
  media,
  operation,
} from './common.js';

export const AuditQuerySchema = Type.Object(
  {
    action: Type.Optional(Type.String({ maxLength: 200 })),
    actor: Type.Optional(Type.String({ maxLength: 200 })),
    target: Type.Optional(Type.String({ maxLength: 200 })),
    deviceId: Type.Optional(
      Type.String({
        maxLength: 64,
        description:
          "records about this device: its target is the device, or it names the device in changes.deviceId (a certificate's revocation, a deployment's device)",
      }),
    ),
    from: Type.Optional(Type.String({ maxLength: 40, description: 'epoch milliseconds or RFC 3339' })),
    to: Type.Optional(Type.String({ maxLength: 40, description: 'epoch milliseconds or RFC 3339' })),
    order: Type.Optional(
      Type.Union([Type.Literal('oldest'), Type.Literal('newest')], {
        description:
          'oldest first (the default) or newest first; a cursor pages on in the order it came from',
      }),
    ),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);

export const AuditRecord = Answer({
  tenantId: Type.String({ description: "'' for platform actions" }),
  actor: Type.String({
    description: '`user:usr_…`, `api-key:key_…`, `admin:usr_…`, `device:dev_…`, or `anonymous`',
  }),
  action: Type.String({ description: 'e.g. `devices.create`, `auth.login`' }),
  target: Nullable(Type.String()),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  source: Nullable(Type.String({ description: 'source address' })),
  changes: Nullable(OpenObject('what changed, secrets removed; members depend on the action')),
  seq: Type.Integer({ minimum: 1 }),
  at: EpochMs,
  prevHash: Type.String(),
  hash: Type.String(),
});
export const AuditVerification = Answer({
  intact: Type.Boolean(),
  records: Type.Integer({ minimum: 0 }),
  retainedFrom: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'retention removed older records: the chain is checked from here',
    }),
  ),
  breaks: Type.Array(Answer({ seq: Type.Integer(), reason: Type.String() })),
});
const Export = media('one audit record (JSON) per line', {
  'application/x-ndjson': Type.String({ description: 'JSON lines: one AuditRecord per line' }),
});

export const auditOperations = {
  listAudit: operation({
    method: 'GET',
    path: '/v1/audit',
    query: AuditQuerySchema,
    responses: { 200: PageOf(AuditRecord) },
  }),
  exportAudit: operation({
    method: 'GET',
    path: '/v1/audit/export',
    query: AuditQuerySchema,
    responses: { 200: Export },
  }),
  verifyAudit: operation({ method: 'GET', path: '/v1/audit/verify', responses: { 200: AuditVerification } }),
  listPlatformAudit: operation({
    method: 'GET',
    path: '/v1/platform/audit',
    query: AuditQuerySchema,
    responses: { 200: PageOf(AuditRecord) },
  }),
  exportPlatformAudit: operation({
    method: 'GET',
    path: '/v1/platform/audit/export',
    query: AuditQuerySchema,
    responses: { 200: Export },
  }),
  verifyPlatformAudit: operation({
    method: 'GET',
    path: '/v1/platform/audit/verify',
    responses: { 200: AuditVerification },
  }),
};
