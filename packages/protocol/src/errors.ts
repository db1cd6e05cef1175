/**
 * The one error catalogue. Every refusal the platform gives, over HTTP or MQTT, carries one of these
 * stable codes; clients branch on `code`, never on text. `docs/errors.md` is kept in step by a test.
 */
import { JSON_LIMITS } from './json.js';

export interface ErrorSpec {
  /** HTTP status the code maps to at the HTTP edge. */
  readonly status: number;
  /** Short human title, stable for a code. */
  readonly title: string;
  /** What it means and what to do about it. */
  readonly description: string;
}

function spec(status: number, title: string, description: string): ErrorSpec {
  return { status, title, description };
}

export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: spec(
    400,
    'Request is not valid',
    'A field is missing, has the wrong type, or is not allowed. `errors` lists each field and why.',
  ),
  MALFORMED_JSON: spec(
    400,
    'Body is not valid JSON',
    'The body or MQTT payload is not one well-formed JSON document under the I-JSON rules (RFC 7493): a syntax error, a leading byte order mark, a member name that occurs twice in one object, or a member `__proto__` (or `constructor` holding `prototype`). Send UTF-8 JSON without a BOM.',
  ),
  INVALID_TEXT: spec(
    400,
    'Text cannot be stored',
    'A string (a field value, a member name, a query or path parameter, an MQTT topic) contains U+0000 (NUL) or a lone UTF-16 surrogate such as `\\ud800`, or the bytes are not valid UTF-8. `errors` names where. Nothing was stored or changed.',
  ),
  JSON_TOO_DEEP: spec(
    400,
    'JSON nested too deeply or too wide',
    `Objects and arrays in one document nest at most ${JSON_LIMITS.maxDepth} levels, counting the top level as 1 (metadata, command params, event data and attributes included), and one object holds at most ${JSON_LIMITS.maxMembers} members. Flatten the document, or split a wide object into several requests or messages.`,
  ),
  NUMBER_OUT_OF_RANGE: spec(
    400,
    'Number out of range',
    'A JSON number does not fit a 64-bit floating point number (such as `1e999`); it is refused rather than stored as `null`. `errors` names where.',
  ),
  INVALID_CURSOR: spec(
    400,
    'Pagination cursor is not valid',
    'Pass back the `nextCursor` value of a previous page unchanged, with the same order: a device list cursor is valid only with the `sort` it was made for (`detail` names both).',
  ),
  INVALID_TIME_RANGE: spec(
    400,
    'Time range is not valid',
    '`from` must be before `to`, and the bucket count must stay within the documented limit.',
  ),
  UNAUTHENTICATED: spec(
    401,
    'Authentication required',
    'Send a valid credential: `Authorization: Bearer <key>` for APIs, device id and access key for devices.',
  ),
  INVALID_CREDENTIALS: spec(
    401,
    'Credentials are not valid',
    'The user name, password, key or token was not accepted.',
  ),
  FORBIDDEN: spec(403, 'Not allowed', 'The credential is valid but does not grant this action.'),
  CERTIFICATE_PENDING: spec(
    403,
    'Certificate waits for approval',
    'A manufacturer CA with the `pending` policy presented a new certificate for a device that already exists: an operator approves it (`POST /v1/certificates/{serial}/approve`) before it is accepted. Over MQTT: CONNACK 5.',
  ),
  TOTP_REQUIRED: spec(
    401,
    'One-time code required',
    'The password was right and the account has two-factor authentication: send the login again with `totp` (the 6-digit code of the authenticator app) or `recoveryCode`.',
  ),
  TOTP_INVALID: spec(
    401,
    'One-time code not accepted',
    'The code is wrong, expired, or was used already (each code works once). Wait for the next code, or use a recovery code. Counts as a failed login.',
  ),
  ACCOUNT_LOCKED: spec(
    423,
    'Too many failed logins',
    'Logins for this user name are locked after repeated failures. `retryAfterMs` (and `Retry-After`) says when the lock ends, `limit` names it (`auth.failed_logins_per_user_name`); an administrator can lift the lock or issue a password-reset link meanwhile.',
  ),
  PASSWORD_CHANGE_REQUIRED: spec(
    403,
    'Password change required',
    "The password this session was opened with was handed out to be used once (the bootstrap administrator's): the session may only change it (`POST /v1/auth/password`) and read `/v1/auth/me`. Log in again with the new password.",
  ),
  TOTP_ENROLLMENT_REQUIRED: spec(
    403,
    'Two-factor enrolment required',
    'The tenant requires two-factor authentication and this account has none: this session can only enrol one (`POST /v1/auth/totp`, then `/v1/auth/totp/confirm`). Log in again afterwards.',
  ),
  CSRF_TOKEN_INVALID: spec(
    403,
    'CSRF token missing or wrong',
    'The request was authenticated by the session cookie (a console login with `"session": "cookie"`) and changes something, so it must carry the session\'s CSRF token in `X-CSRF-Token`: the `csrfToken` of the login answer, or of `GET /v1/auth/me`. Nothing was done. Programs send `Authorization: Bearer` instead and need no CSRF token.',
  ),
  BULK_MATCH_CHANGED: spec(
    409,
    'The filter matches another number of devices',
    'The bulk operation named the count its dry run showed (`expectMatched`), and the filter now matches another number of devices: nothing was done. `matched` in the problem is the count now; run the dry run again and confirm that count.',
  ),
  DEVICE_DISABLED: spec(
    403,
    'Device is disabled',
    'The device was disabled by an operator; it cannot connect or send data until it is enabled again.',
  ),
  TOPIC_NOT_ALLOWED: spec(
    403,
    'Topic not allowed',
    'A device may publish only to its own telemetry, events and command-result topics, and subscribe only to `d/{deviceId}/commands/+` and `d/{deviceId}/errors`.',
  ),
  CLIENT_ID_REJECTED: spec(
    409,
    'Client id rejected',
    "MQTT only, answered with CONNACK 2 (identifier rejected): the client id is held by another device's live session, `cleanSession = 0` asked to resume a stored session another device made, or a provisioning connection asked for a stored session or used a client id another token holds.",
  ),
  NOT_FOUND: spec(404, 'Not found', 'No route matches the method and path.'),
  TENANT_NOT_FOUND: spec(404, 'Tenant not found', 'No tenant with this id is visible to the caller.'),
  USER_NOT_FOUND: spec(404, 'User not found', 'No user with this id is visible to the caller.'),
  API_KEY_NOT_FOUND: spec(404, 'API key not found', 'No API key with this id is visible to the caller.'),
  DEVICE_NOT_FOUND: spec(404, 'Device not found', 'No device with this id is visible to the caller.'),
  BULK_JOB_NOT_FOUND: spec(
    404,
    'Bulk job not found',
    'No bulk job with this id is visible to the caller (`GET /v1/devices/bulk/{jobId}`).',
  ),
  ACCESS_KEY_NOT_FOUND: spec(404, 'Access key not found', 'The device has no access key with this id.'),
  COMMAND_NOT_FOUND: spec(404, 'Command not found', 'No command with this id exists for the device.'),
  PROVISIONING_TOKEN_NOT_FOUND: spec(
    404,
    'Provisioning token not found',
    'No provisioning token with this id is visible to the caller.',
  ),
  OPERATION_NOT_FOUND: spec(
    404,
    'Provisioning operation not found',
    'No provisioning operation with this id is visible to the caller.',
  ),
  CERTIFICATE_NOT_FOUND: spec(
    404,
    'Certificate not found',
    'No device certificate with this serial is visible to the caller.',
  ),
  CA_NOT_FOUND: spec(404, 'CA not found', 'No certificate authority with this id is visible to the caller.'),
  ROLE_NOT_FOUND: spec(
    404,
    'Role not found',
    'No custom role with this name exists in the tenant; built-in roles cannot be changed.',
  ),
  SESSION_NOT_FOUND: spec(404, 'Session not found', 'No live session with this id belongs to the user.'),
  INVITATION_NOT_FOUND: spec(
    404,
    'Invitation not found',
    'No open invitation with this id exists in the tenant.',
  ),
  LINK_INVALID: spec(
    410,
    'Link not valid',
    'The invitation or password-reset link is unknown, was used already, was revoked or has expired. Ask an administrator for a new one.',
  ),
  PASSWORD_TOO_WEAK: spec(
    422,
    'Password refused',
    'The password is too short or too long, contains the user name, or is on the list of breached and common passwords. `detail` says which; choose a longer passphrase.',
  ),
  TOTP_STATE: spec(
    409,
    'Two-factor state does not allow this',
    'Enrolment was not started, is already confirmed, or the tenant requires two-factor authentication so it cannot be removed.',
  ),
  API_KEY_REVOKED: spec(409, 'API key is revoked', 'A revoked key cannot be rotated; create a new key.'),
  ALREADY_EXISTS: spec(409, 'Already exists', 'A resource with the same unique name or id exists already.'),
  COMMAND_NOT_OPEN: spec(
    409,
    'Command is finished',
    'The command has already succeeded, failed or expired; a result can be reported only once.',
  ),
  OPERATION_NOT_PENDING: spec(
    409,
    'Provisioning operation is not pending',
    'The operation was already approved, rejected, superseded, locked or has expired; `operationStatus` says which.',
  ),
  PROVISIONING_TOKEN_EXHAUSTED: spec(
    403,
    'Provisioning token used up',
    'The provisioning token has provisioned as many devices as it allows, has expired or was revoked.',
  ),
  SERIAL_NOT_ALLOWED: spec(
    403,
    'Serial not allowed for this token',
    'A per-device provisioning token provisions only the serial it was made for.',
  ),
  VERIFICATION_CODE_WRONG: spec(
    422,
    'Verification code does not match',
    'The code entered is not the one the device shows. `attemptsLeft` says how many tries remain before the operation locks.',
  ),
  TOO_MANY_OPERATIONS: spec(
    429,
    'Too many provisioning operations',
    'Too many operations were started with this provisioning token in a short time; the token is flagged as suspicious. `retryAfterMs` (and `Retry-After`) says when to try again; `limit`, `configured` and `observed` name the limit that was hit.',
  ),
  IDEMPOTENCY_KEY_IN_USE: spec(
    409,
    'Request with this idempotency key is in progress',
    'The first request with this `Idempotency-Key` has not finished yet. Retry after it completes to receive its response.',
  ),
  CSR_INVALID: spec(
    422,
    'Certificate signing request refused',
    'The CSR is malformed, its signature does not verify, or it uses a weak key or hash (SHA-1, RSA under 2048 bits, curves other than P-256/P-384). `detail` names the reason.',
  ),
  CLAIM_CODE_INVALID: spec(
    422,
    'Claim code not valid',
    'The claim code is unknown, was used already or has expired. Ask the previous owner to release the device again.',
  ),
  CA_INVALID: spec(
    422,
    'CA registration refused',
    'The CA certificate is not a usable CA, the verification certificate is not signed by it or does not name a current registration code, or the CRL is not signed by it. `detail` says which.',
  ),
  IDEMPOTENCY_KEY_REUSED: spec(
    422,
    'Idempotency key reused with another request',
    'An `Idempotency-Key` may be retried only with the same method, path and body.',
  ),
  PAYLOAD_TOO_LARGE: spec(
    413,
    'Payload too large',
    'The body or MQTT payload is larger than the documented limit.',
  ),
  ARTIFACT_NOT_FOUND: spec(
    404,
    'Artifact not found',
    "No firmware artifact with this id is visible to the caller (another tenant's, deleted, or never completed).",
  ),
  UPDATE_KEY_NOT_FOUND: spec(
    404,
    'Update key not found',
    'No update-signing key with this id is visible to the caller.',
  ),
  ARTIFACT_SEQUENCE_NOT_NEWER: spec(
    409,
    'Artifact sequence is not newer',
    "Anti-rollback: an artifact's `sequence` must be greater than the sequence of every earlier artifact of the tenant and hardware class, deleted ones included. `latestSequence` names the highest one. Nothing was stored.",
  ),
  ARTIFACT_SIGNATURE_INVALID: spec(
    422,
    'Artifact signature is not valid',
    'The detached signature does not verify, with any active offline update key of the tenant, over the signed manifest bytes of `docs/ota.md` computed from the uploaded image. Nothing was stored.',
  ),
  ARTIFACT_DIGEST_MISMATCH: spec(
    422,
    'Artifact digest does not match',
    'The `sha256` the upload claimed differs from the SHA-256 the server computed over the bytes it received. Nothing was stored.',
  ),
  ARTIFACT_IN_USE: spec(
    409,
    'Artifact is being deployed',
    'A deployment that is active or paused rolls this artifact out: abort or stop it (or let it complete) before deleting the artifact. `deployments` names them. Nothing was deleted.',
  ),
  DEPLOYMENT_NOT_FOUND: spec(
    404,
    'Deployment not found',
    "No deployment with this id is visible to the caller (another tenant's, or never created).",
  ),
  OTA_OPERATION_NOT_FOUND: spec(
    404,
    'OTA operation not found',
    "The device has no operation with this id: another device's, or never offered.",
  ),
  DEPLOYMENT_STATE_CONFLICT: spec(
    409,
    'Deployment cannot do that now',
    'The action does not apply to the deployment in its current `status` (a finished deployment cannot be resumed, a stopped one cannot be paused). `deploymentStatus` names the current one. Nothing changed.',
  ),
  OTA_EMERGENCY_STOP_ACTIVE: spec(
    409,
    'OTA emergency stop in force',
    "The tenant's OTA emergency stop is in force: no deployment may be created or resumed until it is lifted (`DELETE /v1/deployments/emergency-stop`).",
  ),
  DEPLOYMENT_TARGET_EMPTY: spec(
    422,
    'Deployment targets no device',
    "After the artifact's checks no device is left to update. `excluded` counts the devices left out, by reason: another hardware class or none reported, a running version below the artifact's minimum, already at or past its version, or in another open deployment.",
  ),
  DEPLOYMENT_TARGET_REFUSED: spec(
    422,
    'Named devices cannot take this artifact',
    'Devices named in `target.deviceIds` cannot take the artifact: `errors` names each one and why (unknown device, another hardware class or none reported, a running version below the minimum, already at or past the version, in another open deployment). Nothing was created.',
  ),
  OTA_OPERATION_NOT_OPEN: spec(
    409,
    'OTA operation is not open',
    'The progress report names an attempt that is not the current one, an operation already finished (succeeded, failed, timed out) or cancelled, or a step that cannot follow the current state. `state` names the current state; a device that was cancelled should drop the update.',
  ),
  INVALID_OTA_REPORT: spec(
    422,
    'OTA progress report is not valid',
    'The progress report is not `{attempt, state, progress?, code?, reason?, version?, until?}` of docs/ota.md; `succeeded` and `rolled_back` name the SemVer version the device runs. `errors` says which field.',
  ),
  CONFIG_LIMIT_EXCEEDED: spec(
    422,
    'Configuration over a limit',
    'The configuration document or patch goes past a limit: `limit` names it (`documentBytes`: 32 KiB of JSON per document, `patchBytes`: 64 KiB per patch, `depth`: 10 levels, `keyLength`: 128 characters per member name), `max` its value, `actual` what was sent and `path` where. Nothing changed.',
  ),
  CONFIG_VERSION_CONFLICT: spec(
    409,
    'Configuration changed since that version',
    'The `If-Match` version is not the current desired version: someone changed it in between. `currentVersion` names the current one; read it, merge, and send again. Nothing changed.',
  ),
  CONFIG_SCHEMA_VIOLATION: spec(
    422,
    'Configuration does not match its schema',
    'The desired document the patch would make does not match the JSON Schema of a configuration schema whose tag the device has. `schema` names it and `errors` lists each failing path. Nothing changed.',
  ),
  CONFIG_SCHEMA_INVALID: spec(
    400,
    'Not a usable JSON Schema',
    'The configuration schema is not a valid JSON Schema (draft 2020-12 keywords), or uses `$ref` to a document outside itself. `errors` says where.',
  ),
  BRIDGE_NOT_FOUND: spec(404, 'Bridge not found', 'The tenant has no MQTT bridge with this id.'),
  CONFIG_SCHEMA_NOT_FOUND: spec(
    404,
    'Configuration schema not found',
    'The tenant has no configuration schema with this name.',
  ),
  INVALID_CONFIG_REPORT: spec(
    422,
    'Configuration report is not valid',
    'The report is not `{desiredVersion?, patch?}` of docs/mqtt.md with at least one of them, or `desiredVersion` is past the current desired version. `errors` says which field.',
  ),
  ALERT_RULE_NOT_FOUND: spec(404, 'Alert rule not found', 'The tenant has no alert rule with this id.'),
  ALERT_NOT_FOUND: spec(
    404,
    'Alert not found',
    "No alert with this id is visible to the caller (another tenant's, or about a device outside its grants).",
  ),
  INVALID_ALERT_RULE: spec(
    422,
    'Alert rule is not valid',
    'The rule does not hold together: `kind` `threshold` needs `threshold` and `absence` needs `absence` (and not the other), `clearValue` must be on the safe side of `value` (for `>` and `>=` at most `value`, for `<` and `<=` at least `value`), `forSeconds` 0–86400, `minutes` 1–10080. `errors` names each field. Nothing changed.',
  ),
  ALERT_RULE_LIMIT_EXCEEDED: spec(
    422,
    'Too many alert rules',
    'The tenant holds the most alert rules it may (`max`, 200): delete or reuse one. Nothing was created.',
  ),
  ALERT_STATE_CONFLICT: spec(
    409,
    'Alert is not in a state that allows this',
    'Only a firing alert can be acknowledged, and only a firing or acknowledged one resolved; `state` names the current state. A resolved alert never opens again: the next breach is a new alert.',
  ),
  WEBHOOK_NOT_FOUND: spec(404, 'Webhook not found', 'The tenant has no webhook with this id.'),
  WEBHOOK_DELIVERY_NOT_FOUND: spec(
    404,
    'Webhook delivery not found',
    'The webhook has no delivery with this id.',
  ),
  WEBHOOK_URL_REFUSED: spec(
    422,
    'Webhook address refused',
    "The URL (or the OAuth token URL) is not an `https://` URL the platform may call: user information in it, a host that is an address of the platform's own network (loopback, private, link-local, unique-local, cloud metadata, or such an address written another way), or `localhost`. Addresses the operator allowed (`MOORING_OUTBOUND_ALLOW_LIST`) pass. Names are checked again, resolved, at every request. `errors` names the field.",
  ),
  WEBHOOK_LIMIT_EXCEEDED: spec(
    422,
    'Too many webhooks',
    'A tenant has at most 50 webhooks (`limit`, `max`). Delete one first.',
  ),
  WEBHOOK_DISABLED: spec(
    409,
    'Webhook is disabled',
    'The webhook is disabled (by an operator, or because it answered 410 Gone): enable it with `PATCH {enabled: true}`, which verifies it again.',
  ),
  RANGE_NOT_SATISFIABLE: spec(
    416,
    'Range not satisfiable',
    'The `Range` starts at or past the end of the artifact. `Content-Range: bytes */{size}` gives the size.',
  ),
  UNSUPPORTED_MEDIA_TYPE: spec(
    415,
    'Unsupported media type',
    'Send `Content-Type: application/json`, in UTF-8: a `charset` other than `utf-8` is refused.',
  ),
  TOO_MANY_READINGS: spec(
    422,
    'Too many readings or keys',
    'A telemetry message holds more readings or keys than the documented limit.',
  ),
  TIMESTAMP_OUT_OF_RANGE: spec(
    422,
    'Timestamp out of range',
    'A reading timestamp is before the epoch floor or too far in the future; see the skew limit.',
  ),
  INVALID_TELEMETRY: spec(
    422,
    'Telemetry payload is not valid',
    'The payload does not match the telemetry schema; `errors` says where.',
  ),
  INVALID_FIRMWARE_REPORT: spec(
    422,
    'Firmware report is not valid',
    'A firmware report (`d/{id}/state/firmware`, `PUT /v1/device/firmware`) or a version in a fleet filter or policy is not `{version, hardwareClass}` with a Semantic Versioning 2.0.0 version (at most 64 characters; major, minor and patch at most 2147483647; numeric pre-release identifiers at most 10 digits) and a hardware class of 1 to 64 of `A-Z a-z 0-9 _ . : -`. `errors` says which field.',
  ),
  RATE_LIMITED: spec(
    429,
    'Too many requests',
    'A rate limit was hit. The body names it: `limit` (its name, as in the list of limits in docs/operations.md), `scope` (whose count: `address`, `api-key`, `device`, `tenant`…), `configured` (the value for this caller), `observed` (the count in the current window) and `retryAfterMs` (when the window ends); the `Retry-After` header says the same in whole seconds. Nothing was done.',
  ),
  QUOTA_EXCEEDED: spec(
    429,
    'Quota exceeded',
    'A cap on how many may exist at once was reached, such as the MQTT connections a tenant may hold open (`mqtt.connections_per_tenant`). The refusal names it like a rate limit (`limit`, `scope`, `configured`, `observed`); no window ends it: one comes free when one of those counted goes away. Nothing was done. Over MQTT a CONNECT refused so gets CONNACK 3 (server unavailable): retry with backoff.',
  ),
  INTERNAL: spec(
    500,
    'Internal error',
    'Something failed on the server. The response carries a `requestId` to quote; nothing about the cause is exposed.',
  ),
  AUDIT_FAILED: spec(
    500,
    'Audit record not written',
    'The action was not taken: its audit record could not be written, so nothing it would have changed was kept. Nothing about the cause is exposed; retry, and report the `requestId` if it persists.',
  ),
  CONSOLE_NOT_BUILT: spec(
    503,
    'Console not built',
    'This server has no built web console to serve at `/console`: build it (`npm run build`, which `npm ci` runs) and restart the server. The REST API works without it.',
  ),
  NOT_READY: spec(
    503,
    'Not ready',
    'The server is starting or shutting down, or its store does not answer (down, restarting, the connection cut). Nothing was done, or, if the store went away during the commit, possibly done: repeat only what is safe to repeat. `retryAfterMs` and the `Retry-After` header say when to try again. Over MQTT: CONNACK 3, server unavailable.',
  ),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

/** The problem+json body every HTTP error carries (RFC 9457), plus Mooring's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: { path: string; message: string }[];
  [extra: string]: unknown;
}

/** Renders the catalogue as the Markdown table that `docs/errors.md` carries. */
export function renderErrorTable(): string {
  const lines = ['| code | HTTP status | title | meaning |', '|---|---|---|---|'];
  for (const code of ERROR_CODES) {
    const e = ERROR_CATALOGUE[code];
    lines.push(`| \`${code}\` | ${e.status} | ${e.title} | ${e.description} |`);
  }
  return lines.join('\n');
}
