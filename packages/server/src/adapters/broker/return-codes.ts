/**
 * The one place where Mooring's error codes (`@mooring/protocol` errors.ts) become MQTT 3.1.1 return
 * codes. MQTT has few ways to say no (docs/errors.md#over-mqtt): CONNACK return codes 1–5
 * [MQTT-3.2.2.3] and one SUBACK failure code, 0x80 [MQTT-3.9.3]. A refusal anywhere in the adapter
 * names an error code; only this table knows the number it goes out as.
 */
import type { ErrorCode } from '@mooring/protocol';

/** CONNACK return codes [MQTT-3.2.2.3], table 3.1. */
export const ConnackReturnCode = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USER_NAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;
export type ConnackReturnCode = (typeof ConnackReturnCode)[keyof typeof ConnackReturnCode];

/** SUBACK return codes [MQTT-3.9.3]: the granted QoS, or failure. */
export const SubackReturnCode = {
  MAX_QOS_0: 0,
  MAX_QOS_1: 1,
  FAILURE: 0x80,
} as const;

/** Deliveries to devices use QoS 1 at most; a granted subscription is capped to it. */
export const MAX_GRANTED_QOS = SubackReturnCode.MAX_QOS_1;

/** Error codes a CONNECT may be refused with, and the CONNACK return code each goes out as. */
export const CONNACK_RETURN_CODES = {
  /** Unknown device, wrong or revoked credential, user name and client id disagree. */
  INVALID_CREDENTIALS: ConnackReturnCode.BAD_USER_NAME_OR_PASSWORD,
  DEVICE_DISABLED: ConnackReturnCode.NOT_AUTHORIZED,
  /** A manufacturer certificate waits for an operator's approval. */
  CERTIFICATE_PENDING: ConnackReturnCode.NOT_AUTHORIZED,
  /** No transport, connection gone, credential revoked while it was looked up. */
  FORBIDDEN: ConnackReturnCode.NOT_AUTHORIZED,
  CLIENT_ID_REJECTED: ConnackReturnCode.IDENTIFIER_REJECTED,
  /** The store failed while the credential was checked: retry with backoff. */
  NOT_READY: ConnackReturnCode.SERVER_UNAVAILABLE,
  /** Too many CONNECTs with this client id (`mqtt.connects_per_client_id`): retry after the window. */
  RATE_LIMITED: ConnackReturnCode.SERVER_UNAVAILABLE,
} as const satisfies Partial<Record<ErrorCode, ConnackReturnCode>>;
export type ConnectRefusalCode = keyof typeof CONNACK_RETURN_CODES;

/** Error codes a subscription may be refused with; MQTT 3.1.1 has only the one failure code. */
export const SUBACK_RETURN_CODES = {
  TOPIC_NOT_ALLOWED: SubackReturnCode.FAILURE,
} as const satisfies Partial<Record<ErrorCode, number>>;
export type SubscribeRefusalCode = keyof typeof SUBACK_RETURN_CODES;

/** A granted subscription in a `subscribe` event (aedes reports refused filters with 0x80). */
export function isGranted(qos: number): boolean {
  return qos !== SubackReturnCode.FAILURE;
}
