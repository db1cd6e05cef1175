/** Command delivery and result payloads. */
import { Type, type Static } from '@sinclair/typebox';
import { checkSchema } from './schema-check.js';

export const COMMAND_STATUSES = ['pending', 'delivered', 'succeeded', 'failed', 'expired'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/** What the platform publishes on `d/{deviceId}/commands/{commandId}` (QoS 1) and a device fetches over HTTPS. */
export const CommandMessageSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    params: Type.Unknown({ description: 'any JSON value the sender gave' }),
    expiresAt: Type.String({
      format: 'date-time',
      description: 'RFC 3339; the device should not act on a command past this time',
    }),
  },
  { additionalProperties: false },
);
export type CommandMessage = Static<typeof CommandMessageSchema>;

/** What a device reports on `d/{deviceId}/commands/{commandId}/result` or over HTTPS. */
export const CommandResultSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type CommandResult = Static<typeof CommandResultSchema>;

/** Largest command params or result document, in bytes of JSON. */
export const MAX_COMMAND_DOCUMENT_BYTES = 16 * 1024;

export function parseCommandResult(
  body: unknown,
): { ok: true; value: CommandResult } | { ok: false; message: string } {
  const checked = checkSchema(CommandResultSchema, body, {
    '': 'result must be an object',
    status: "status must be 'succeeded' or 'failed'",
    error: 'error must be a string of at most 1024 characters',
  });
  if (!checked.ok) return { ok: false, message: checked.message };
  const value: CommandResult = { status: checked.value.status };
  if (checked.value.result !== undefined) value.result = checked.value.result;
  if (checked.value.error !== undefined) value.error = checked.value.error;
  return { ok: true, value };
}
