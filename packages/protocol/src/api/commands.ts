/** Commands: sent by people and programs, fetched and answered by devices. */
import { Type } from '@sinclair/typebox';
import { COMMAND_STATUSES } from '../commands.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  MAX_DURATION_SECONDS,
  Nullable,
  NullableEpochMs,
  PageLimit,
  PageOf,
  operation,
} from './common.js';
import { DeviceParams } from './devices.js';

export const CommandStatusSchema = Type.Union(COMMAND_STATUSES.map((s) => Type.Literal(s)));
export const Command = Answer({
  id: Type.String(),
  deviceId: Type.String(),
  name: Type.String(),
  params: Type.Unknown({ description: 'any JSON value the sender gave' }),
  status: CommandStatusSchema,
  createdAt: EpochMs,
  expiresAt: EpochMs,
  deliveredAt: NullableEpochMs,
  completedAt: NullableEpochMs,
  result: Type.Unknown({ description: 'any JSON value the device reported (null until then)' }),
  error: Nullable(Type.String()),
});

export const CommandParams = Type.Object({ deviceId: IdParam, commandId: IdParam });
export const CommandCreate = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
    params: Type.Optional(Type.Unknown({ description: 'any JSON value, at most 16 KiB' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DURATION_SECONDS })),
  },
  { additionalProperties: false },
);
export const CommandListQuery = Type.Object(
  {
    status: Type.Optional(CommandStatusSchema),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);

export const commandOperations = {
  sendCommand: operation({
    method: 'POST',
    path: '/v1/devices/{deviceId}/commands',
    params: DeviceParams,
    body: CommandCreate,
    responses: { 201: Command },
  }),
  listCommands: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/commands',
    params: DeviceParams,
    query: CommandListQuery,
    responses: { 200: PageOf(Command) },
  }),
  getCommand: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/commands/{commandId}',
    params: CommandParams,
    responses: { 200: Command },
  }),
};
