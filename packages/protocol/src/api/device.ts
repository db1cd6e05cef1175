/** The HTTPS device API: what a device does over MQTT, for devices that speak only HTTPS. */
import { Type } from '@sinclair/typebox';
import { CommandMessageSchema, CommandResultSchema } from '../commands.js';
import { DeviceEventSchema } from '../events.js';
import { TelemetryPayloadSchema } from '../telemetry.js';
import { Answer, IdParam, ItemsOf, operation } from './common.js';
import { CommandStatusSchema } from './commands.js';
import { CertificateRenew, IssuedCertificate } from './pki.js';

export const DeviceCommandParams = Type.Object({ commandId: IdParam });

export const deviceApiOperations = {
  sendTelemetry: operation({
    method: 'POST',
    path: '/v1/device/telemetry',
    body: TelemetryPayloadSchema,
    responses: {
      202: Answer({ accepted: Type.Integer({ minimum: 0, description: 'values stored (committed)' }) }),
    },
  }),
  sendEvent: operation({
    method: 'POST',
    path: '/v1/device/events',
    body: DeviceEventSchema,
    responses: { 202: Answer({ accepted: Type.Integer({ minimum: 0 }) }) },
  }),
  fetchCommands: operation({
    method: 'GET',
    path: '/v1/device/commands',
    responses: { 200: ItemsOf(CommandMessageSchema) },
  }),
  reportCommandResult: operation({
    method: 'POST',
    path: '/v1/device/commands/{commandId}/result',
    params: DeviceCommandParams,
    body: CommandResultSchema,
    responses: { 200: Answer({ id: Type.String(), status: CommandStatusSchema }) },
  }),
  renewCertificate: operation({
    method: 'POST',
    path: '/v1/device/certificates',
    body: CertificateRenew,
    responses: { 201: IssuedCertificate },
  }),
};
