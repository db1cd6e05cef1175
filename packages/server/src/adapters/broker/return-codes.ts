/**
 * The one place where Mooring's error codes (`@mooring/protocol` errors.ts) become MQTT 3.1.1 return
 * codes. MQTT has few ways to say no (docs/errors.md#over-mqtt): CONNACK return codes 1–5
 * [MQTT-3.2.2.3] and one SUBACK failure code, 0x80 [MQTT-3.9.3]. A refusal anywhere in the adapter
 * names an error code; only this table knows the number it goes out as.
 *
 * The broker speaks MQTT 3.1.1 (and 3.1) only: aedes 1.x answers an MQTT 5 CONNECT with return code 1
 * (unacceptable protocol version). MQTT 5 tells refusals apart with reason codes; the ones each
 * refusal is to go out as once the broker speaks it are chosen here too (`CONNACK_REASON_CODES_V5`,
 * `DISCONNECT_REASON_CODES_V5`), so that the choice is made once, beside the 3.1.1 one.
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
  /**
   * Too many CONNECTs with this client id (`mqtt.connects_per_client_id`) or on this listener
   * (`mqtt.connects_per_listener`): retry after the window.
   */
  RATE_LIMITED: ConnackReturnCode.SERVER_UNAVAILABLE,
  /** The tenant holds as many connections as it may (`mqtt.connections_per_tenant`): retry with backoff. */
  QUOTA_EXCEEDED: ConnackReturnCode.SERVER_UNAVAILABLE,
} as const satisfies Partial<Record<ErrorCode, ConnackReturnCode>>;
export type ConnectRefusalCode = keyof typeof CONNACK_RETURN_CODES;

/** MQTT 5 reason codes [MQTT5-3.2.2.2], for the same refusals once the broker speaks MQTT 5. */
export const CONNACK_REASON_CODES_V5 = {
  INVALID_CREDENTIALS: 0x86, // Bad User Name or Password
  DEVICE_DISABLED: 0x87, // Not authorized
  CERTIFICATE_PENDING: 0x87,
  FORBIDDEN: 0x87,
  CLIENT_ID_REJECTED: 0x85, // Client Identifier not valid
  NOT_READY: 0x88, // Server unavailable
  RATE_LIMITED: 0x9f, // Connection rate exceeded
  QUOTA_EXCEEDED: 0x97, // Quota exceeded
} as const satisfies Record<ConnectRefusalCode, number>;

/**
 * Why the server ends a connection, as MQTT 5 DISCONNECT reason codes [MQTT5-3.14.2.1]. MQTT 3.1.1 has
 * no DISCONNECT from the server: the connection is closed, and the reason is recorded first (presence,
 * limit events).
 */
export const DISCONNECT_REASON_CODES_V5 = {
  /** A packet over `mqtt.bytes_per_packet`. */
  packet_too_large: 0x95, // Packet too large
  /** A SUBSCRIBE past `mqtt.subscriptions_per_connection`. */
  too_many_subscriptions: 0x97, // Quota exceeded
} as const;

/** Error codes a subscription may be refused with; MQTT 3.1.1 has only the one failure code. */
export const SUBACK_RETURN_CODES = {
  TOPIC_NOT_ALLOWED: SubackReturnCode.FAILURE,
} as const satisfies Partial<Record<ErrorCode, number>>;
export type SubscribeRefusalCode = keyof typeof SUBACK_RETURN_CODES;

/** A granted subscription in a `subscribe` event (aedes reports refused filters with 0x80). */
export function isGranted(qos: number): boolean {
  return qos !== SubackReturnCode.FAILURE;
}
