/** Command delivery and result payloads. */
import { Type, type Static } from '@sinclair/typebox';

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
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, message: 'result must be an object' };
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'status' && k !== 'result' && k !== 'error')
      return { ok: false, message: `unknown field '${k}'` };
  }
  if (o.status !== 'succeeded' && o.status !== 'failed')
    return { ok: false, message: "status must be 'succeeded' or 'failed'" };
  if (o.error !== undefined && (typeof o.error !== 'string' || o.error.length > 1024)) {
    return { ok: false, message: 'error must be a string of at most 1024 characters' };
  }
  const value: CommandResult = { status: o.status };
  if (o.result !== undefined) value.result = o.result;
  if (typeof o.error === 'string') value.error = o.error;
  return { ok: true, value };
}
