/**
 * The MQTT side of provisioning for connections that hold only a provisioning token. Requests arrive
 * on `prov/{clientId}/…`, answers (and later decisions on operations this connection started) leave on
 * `prov/{clientId}/result`. Nothing else is reachable: no device topic, no other client's namespace.
 */
import {
  decodeJsonPayload,
  parseProvisioningStart,
  parseProvisioningTopic,
  provisioningTopics,
  textProblem,
  type ErrorCode,
} from '@mooring/protocol';
import { AppError, isAppError } from '../../errors.js';
import type { BrokerNotices } from './notices.js';
import type { OperationStart, ProvisioningService } from '../../domains/provisioning/provisioning.js';

/** Largest provisioning request (a CSR fits easily), in bytes. */
const MAX_REQUEST_BYTES = 32 * 1024;

export interface ProvisioningChannel {
  /** Handles one PUBLISH; resolves when it may be acknowledged (answers are published meanwhile). */
  publish(clientId: string, secret: string, topic: string, payload: Buffer): Promise<void>;
  canSubscribe(clientId: string, topic: string): boolean;
  canReceive(clientId: string, topic: string): boolean;
  /** The connection ended: stop watching its operations. */
  closed(clientId: string): void;
}

export function createProvisioningChannel(deps: {
  provisioning: ProvisioningService;
  onDecided: BrokerNotices['onProvisioningDecided'];
  /** Sends one answer to the connection with this client id, on `topic`. */
  send(clientId: string, topic: string, body: unknown): void;
}): ProvisioningChannel {
  const watches = new Map<string, (() => void)[]>();

  function answer(clientId: string, body: Record<string, unknown>) {
    deps.send(clientId, provisioningTopics.result(clientId), body);
  }

  function refuse(
    clientId: string,
    code: ErrorCode,
    message: string,
    topic: string,
    requestId?: unknown,
    details: Record<string, unknown> = {},
  ) {
    // `details` carries what the HTTPS problem carries too (retryAfterMs, attemptsLeft).
    answer(clientId, {
      type: 'error',
      code,
      message,
      topic,
      ...details,
      ...(requestId !== undefined ? { requestId } : {}),
    });
  }

  /** Pushes the operation's view when it is decided, while this connection lasts. */
  function watch(clientId: string, secret: string, operationId: string) {
    const unsubscribe = deps.onDecided((e) => {
      if (e.operationId !== operationId) return;
      unsubscribe();
      deps.provisioning.poll(secret, operationId, 0).then(
        (view) => answer(clientId, { type: 'operation', ...view }),
        () => undefined,
      );
    });
    watches.set(clientId, [...(watches.get(clientId) ?? []), unsubscribe]);
  }

  async function handle(clientId: string, secret: string, topic: string, payload: Buffer): Promise<void> {
    const request = parseProvisioningTopic(clientId, topic);
    if (!request)
      return refuse(
        clientId,
        'TOPIC_NOT_ALLOWED',
        `a provisioning connection may not publish to '${topic}'`,
        topic,
      );
    // The operation id taken from an allowed topic must be text the store can hold.
    const topicProblem = request.kind === 'poll' ? textProblem(request.operationId) : undefined;
    if (topicProblem) return refuse(clientId, 'INVALID_TEXT', `the topic ${topicProblem}`, topic);
    const decoded = decodeJsonPayload(payload, MAX_REQUEST_BYTES);
    if (!decoded.ok)
      return refuse(
        clientId,
        decoded.error.code,
        decoded.error.message,
        topic,
        undefined,
        decoded.error.path !== undefined ? { path: decoded.error.path } : {},
      );
    const body = decoded.value;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return refuse(clientId, 'VALIDATION_FAILED', 'the request must be a JSON object', topic);
    const b = body as Record<string, unknown>;
    const requestId = b.requestId;
    try {
      switch (request.kind) {
        case 'start': {
          // The start message is the HTTPS body's schema (`@mooring/protocol`) plus `requestId`; the
          // rules for each field beyond its shape are the provisioning service's.
          const { requestId: _requestId, ...start } = b;
          const parsed = parseProvisioningStart(start);
          if (!parsed.ok) throw new AppError('VALIDATION_FAILED', parsed.message);
          const input: OperationStart = parsed.value;
          const view = await deps.provisioning.start(secret, input);
          if (view.status === 'pending') watch(clientId, secret, view.operationId);
          return answer(clientId, {
            type: 'operation',
            ...view,
            ...(requestId !== undefined ? { requestId } : {}),
          });
        }
        case 'poll': {
          const view = await deps.provisioning.poll(secret, request.operationId, 0);
          return answer(clientId, {
            type: 'operation',
            ...view,
            ...(requestId !== undefined ? { requestId } : {}),
          });
        }
        case 'refresh': {
          if (typeof b.registrationToken !== 'string')
            throw new AppError('VALIDATION_FAILED', 'registrationToken is required');
          const r = await deps.provisioning.refresh(secret, b.registrationToken);
          return answer(clientId, {
            type: 'refresh',
            ...r,
            ...(requestId !== undefined ? { requestId } : {}),
          });
        }
      }
    } catch (err) {
      if (isAppError(err)) return refuse(clientId, err.code, err.message, topic, requestId, err.details);
      throw err;
    }
  }

  return {
    publish: handle,
    canSubscribe: (clientId, topic) => topic === provisioningTopics.result(clientId),
    canReceive: (clientId, topic) => topic === provisioningTopics.result(clientId),
    closed(clientId) {
      for (const stop of watches.get(clientId) ?? []) stop();
      watches.delete(clientId);
    },
  };
}
