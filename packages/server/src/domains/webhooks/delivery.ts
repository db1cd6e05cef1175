/**
 * The delivery worker: one run of the leased `webhook-delivery` job. It sends the challenge to
 * endpoints waiting for verification, then claims due deliveries (a claim lasts `claimMs`: a node that
 * dies mid-request leaves its deliveries due again, so an event is sent at least once, at most once
 * more than needed) and sends them side by side, a few per endpoint, each through the guarded
 * outbound request (no private addresses, no redirects, 15 s for the whole exchange), on connections
 * kept per endpoint for its next deliveries. Every attempt is logged; a 2xx delivers, 410 disables the
 * endpoint, anything else is retried on the schedule (`Retry-After` honoured) until the delivery is
 * dead.
 *
 * A tenant's deliveries are limited per minute (`webhooks.deliveries_per_tenant`): one over it is
 * given back unsent (no attempt counted) and the tenant's deliveries wait, unclaimed, until its
 * window ends, so one tenant's burst neither loses its events nor holds the other tenants' back.
 */
import { randomBytes } from 'node:crypto';
import type { Limiter } from '../../platform/limits/limits.js';
import type { LimitEventRecorder } from '../limits/limits.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../platform/observability.js';
import {
  createOutboundPool,
  type GuardedRequestOptions,
  type GuardedResponse,
} from '../../platform/outbound/http.js';
import { isOutboundError } from '../../platform/outbound/outbound-error.js';
import { signWebhook } from '../../platform/outbound/webhook-signature.js';
import type { SecretBox } from '../../platform/secret-box.js';
import { MAX_ATTEMPTS, retryAfterMs, retryDelayMs } from './schedule.js';
import type { DeliveryWithEvent, EndpointRow, WebhookStore } from './store.js';
import { createTokenCache } from './oauth.js';

export type Requester = (url: string, options: GuardedRequestOptions) => Promise<GuardedResponse>;

export interface DeliveryWorkerDeps {
  store: WebhookStore;
  /** This node's id: claims are marked `<nodeId>#<run>`, and a restart frees its earlier run's. */
  nodeId: string;
  box: SecretBox;
  allowList: readonly string[];
  logger: Pick<Logger, 'warn'>;
  /** An endpoint passed its challenge (the interest in telemetry may have changed). */
  onVerified?(): void;
  /** Compresses the retry and verification schedules (tests); 1 in production. */
  retryScale?: number;
  request?: Requester;
  now?: () => number;
  /** Requests in flight at once on this node, and per endpoint. */
  concurrency?: number;
  perEndpoint?: number;
  /** How long a claimed delivery is kept from other nodes (longer than a request can last). */
  claimMs?: number;
  /** A run stops claiming after this long; what it started it finishes. */
  maxRunMs?: number;
  /** Counts `webhooks.deliveries_per_tenant`; absent, deliveries are not limited. */
  limits?: Limiter;
  limitEvents?: LimitEventRecorder;
}

/** How long the delivery log keeps a delivered delivery, and a dead one (a dead letter to replay). */
export const DELIVERED_KEPT_MS = 7 * 86_400_000;
export const DEAD_KEPT_MS = 30 * 86_400_000;
/** Deliveries deleted per statement: a long delete would hold the embedded store's one thread. */
const PURGE_CHUNK = 2_000;

/** Verification attempts before the endpoint waits for an operator's `verify`. */
export const MAX_VERIFY_ATTEMPTS = 20;
const EXCERPT_CHARS = 1024;
/** While requests are in flight, how often a run looks for new due deliveries. */
const POLL_MS = 250;
const USER_AGENT = 'Mooring-Webhooks/1';

export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  const { store, box } = deps;
  const now = deps.now ?? Date.now;
  const scale = deps.retryScale ?? 1;
  const concurrency = deps.concurrency ?? 16;
  const perEndpoint = deps.perEndpoint ?? 4;
  // Connections to an endpoint are kept for its next deliveries (a handshake per delivery capped an
  // endpoint at a few dozen a second); each was made through the address and certificate checks.
  const pool = createOutboundPool({ connectionsPerTarget: perEndpoint });
  const request = deps.request ?? pool.request;
  const claimMs = deps.claimMs ?? 60_000;
  const maxRunMs = deps.maxRunMs ?? 30_000;
  const tokens = createTokenCache({ box, allowList: deps.allowList, request });
  const claimedBy = `${deps.nodeId}#${randomBytes(6).toString('hex')}`;
  let released = false;
  /** Tenants over their delivery rate, and when their window ends. */
  const waiting = new Map<string, number>();

  function waitingTenants(t: number): string[] {
    for (const [tenant, until] of waiting) if (until <= t) waiting.delete(tenant);
    return [...waiting.keys()];
  }

  /** Whether the delivery fits its tenant's rate; when not, it is given back and the tenant waits. */
  async function withinRate(d: DeliveryWithEvent): Promise<boolean> {
    if (!deps.limits) return true;
    const decision = await deps.limits.consume('webhooks.deliveries_per_tenant', {
      key: d.tenant_id,
      tenantId: d.tenant_id,
    });
    if (decision.allowed) return true;
    const until = now() + decision.retryAfterMs;
    waiting.set(d.tenant_id, until);
    deps.limitEvents?.exceeded({ tenantId: d.tenant_id, subject: `tenant:${d.tenant_id}` }, decision);
    await store.unclaim(d.id, claimedBy, until);
    return false;
  }

  function secretsOf(e: EndpointRow, t: number): string[] {
    const secrets = [box.open(e.secret)];
    if (e.previous_secret && e.previous_until !== null && Number(e.previous_until) > t)
      secrets.push(box.open(e.previous_secret));
    return secrets;
  }

  async function authHeader(e: EndpointRow): Promise<Record<string, string>> {
    if (e.auth.type === 'basic') {
      const pair = `${e.auth.username}:${box.open(e.auth.password)}`;
      return { authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
    }
    if (e.auth.type === 'oauth2') return { authorization: `Bearer ${await tokens.tokenFor(e)}` };
    return {};
  }

  /** Signs and sends one body to the endpoint. */
  async function send(e: EndpointRow, messageId: string, body: string): Promise<GuardedResponse> {
    const t = now();
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...(await authHeader(e)),
      ...signWebhook({ id: messageId, timestamp: Math.floor(t / 1000), body, secrets: secretsOf(e, t) }),
    };
    const answer = await request(e.url, {
      method: 'POST',
      headers,
      body,
      allowList: deps.allowList,
      maxResponseBytes: EXCERPT_CHARS,
      ...(e.ca_pem ? { ca: e.ca_pem } : {}),
    });
    if (answer.status === 401) tokens.forget(e.id);
    return answer;
  }

  const describe = (err: unknown) =>
    isOutboundError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);

  async function verifyOne(e: EndpointRow): Promise<void> {
    const challenge = randomBytes(18).toString('base64url');
    const body = JSON.stringify({ type: 'webhook.verification', webhookId: e.id, challenge });
    let error: string | null = null;
    try {
      const answer = await send(e, `msg_verify_${challenge}`, body);
      if (answer.status < 200 || answer.status > 299) error = `the challenge was answered ${answer.status}`;
      else if (!answersChallenge(answer.bodyExcerpt, challenge))
        error = 'the answer did not carry the challenge: answer {"challenge": "<the challenge>"}';
    } catch (err) {
      error = describe(err);
    }
    const t = now();
    const attempts = Number(e.verify_attempts) + 1;
    await store.verificationResult(e.id, e.url, {
      at: t,
      attempts,
      error: error === null ? null : storable(error),
      nextDueAt:
        error === null || attempts >= MAX_VERIFY_ATTEMPTS
          ? null
          : t + Math.round(Math.min(60_000 * 2 ** (attempts - 1), 3600_000) * scale),
    });
    if (error === null) deps.onVerified?.();
  }

  /** Sends one delivery and records the outcome; true when it was delivered. */
  async function deliverOne(d: DeliveryWithEvent, e: EndpointRow): Promise<boolean> {
    const body = d.event;
    let answer: GuardedResponse | undefined;
    let error: string | null = null;
    try {
      answer = await send(e, d.event_id, body);
      if (answer.status < 200 || answer.status > 299) error = `answered ${answer.status}`;
    } catch (err) {
      error = describe(err);
    }
    const t = now();
    const attempt = Number(d.attempts);
    error = error === null ? null : storable(error);
    await store.recordAttempt(d.id, {
      at: t,
      status: answer?.status ?? null,
      latencyMs: answer ? Math.round(answer.latencyMs) : null,
      error,
      responseExcerpt: answer ? storable(answer.bodyExcerpt.slice(0, EXCERPT_CHARS)) : null,
    });
    const lastStatus = answer?.status ?? null;
    if (error === null) {
      await store.settle(d.id, { status: 'delivered', nextAttemptAt: t, at: t, lastStatus, lastError: null });
      return true;
    }
    if (answer?.status === 410) {
      // Gone: the receiver asks for no more. The delivery waits with the endpoint (enabled again, it flows).
      await store.disable(e.id, 'the endpoint answered 410 Gone', t);
      await store.settle(d.id, { status: 'pending', nextAttemptAt: t, at: t, lastStatus, lastError: error });
      return false;
    }
    const delay = retryDelayMs(attempt, scale);
    if (delay === undefined || attempt >= MAX_ATTEMPTS) {
      await store.settle(d.id, { status: 'dead', nextAttemptAt: t, at: t, lastStatus, lastError: error });
      return false;
    }
    const asked = answer ? retryAfterMs(answer.headers['retry-after'], t) : undefined;
    const wait = Math.max(delay, asked ?? 0);
    await store.settle(d.id, {
      status: 'pending',
      nextAttemptAt: t + wait,
      at: t,
      lastStatus,
      lastError: error,
    });
    return false;
  }

  return {
    /** The delivery log's retention: deletes what is past its keeping, a chunk at a time. */
    async purgeLog(): Promise<number> {
      const t = now();
      let purged = 0;
      for (;;) {
        const n = await store.purgeLog(t - DELIVERED_KEPT_MS, t - DEAD_KEPT_MS, PURGE_CHUNK);
        purged += n;
        if (n < PURGE_CHUNK) return purged;
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    /** Closes the connections kept to endpoints. */
    close: () => pool.close(),
    /** One run: verifications, then deliveries until none is due or the run's time is up. */
    async run(): Promise<{ delivered: number; attempted: number }> {
      const started = now();
      if (!released) {
        // This node's earlier run died with these in flight: they are due now, not in `claimMs`.
        await store.releaseClaimsOf(deps.nodeId, started);
        released = true;
      }
      await store.buryExhausted(started, MAX_ATTEMPTS);
      const due = await store.claimVerifications(started, started + claimMs, 8);
      // Challenges go out beside the deliveries, not before them: an endpoint that never answers its
      // challenge (and a tenant may ask for challenges at will) must not hold everyone's deliveries
      // for the 15 s of a request, or 30 s with a token to fetch first.
      const verifying: Promise<unknown> = Promise.all(
        due.map((e) =>
          verifyOne(e).catch((err: unknown) =>
            deps.logger.warn({ err, webhook: e.id }, 'webhook verification failed'),
          ),
        ),
      );
      let verified = false;
      void verifying.then(() => (verified = true));

      const busy = new Map<string, number>();
      const running = new Set<Promise<void>>();
      let attempted = 0;
      let delivered = 0;
      for (;;) {
        const room = concurrency - running.size;
        const claimed =
          room > 0 && now() - started < maxRunMs
            ? await store.claimDue({
                now: now(),
                claimUntil: now() + claimMs,
                claimedBy,
                limit: room,
                perEndpoint,
                inFlight: busy,
                waitingTenants: waitingTenants(now()),
              })
            : [];
        // Each batch reads its endpoints afresh: a run lasts up to maxRunMs, and a rotated secret, a
        // new password or CA must not wait for the next run to be used.
        const endpoints = new Map<string, EndpointRow>();
        for (const d of claimed) {
          const waitUntil = waiting.get(d.tenant_id);
          if (waitUntil !== undefined) {
            // Claimed in the same batch as the delivery that found the tenant over its rate.
            await store.unclaim(d.id, claimedBy, waitUntil);
            continue;
          }
          if (!(await withinRate(d))) continue;
          let e = endpoints.get(d.endpoint_id);
          if (!e) {
            e = await store.endpointById(d.endpoint_id);
            if (!e) continue;
            endpoints.set(e.id, e);
          }
          attempted++;
          busy.set(e.id, (busy.get(e.id) ?? 0) + 1);
          const endpoint = e;
          const p: Promise<void> = deliverOne(d, endpoint)
            .then((ok) => {
              if (ok) delivered++;
            })
            .catch((err: unknown) => deps.logger.warn({ err, delivery: d.id }, 'webhook delivery failed'))
            .finally(() => {
              running.delete(p);
              busy.set(endpoint.id, (busy.get(endpoint.id) ?? 1) - 1);
            });
          running.add(p);
        }
        if (running.size === 0 && (verified || now() - started >= maxRunMs)) break;
        // One slow endpoint must not hold the others: while there is room, look for new due
        // deliveries every POLL_MS as well as whenever a request (or the challenges) end.
        await Promise.race(
          running.size < concurrency && now() - started < maxRunMs
            ? [...running, sleep(POLL_MS), ...(verified ? [] : [verifying])]
            : [...running],
        );
      }
      await verifying;
      return { delivered, attempted };
    },
  };
}

/**
 * Text from the other side (an answer's excerpt, an error that may quote it) as the store can hold it:
 * a NUL or a lone surrogate becomes U+FFFD. Refused by the store, the attempt would never be recorded
 * nor its delivery settled, and the delivery would be sent again every time its claim lapsed.
 */
export function storable(text: string): string {
  return text.replaceAll('\u0000', '\ufffd').toWellFormed();
}

/** The endpoint proved it got the challenge: `{"challenge": "…"}` or the bare challenge. */
function answersChallenge(excerpt: string, challenge: string): boolean {
  const text = excerpt.trim();
  if (text === challenge) return true;
  try {
    const parsed = JSON.parse(text) as unknown;
    return (
      typeof parsed === 'object' &&
      parsed !== null &&
      (parsed as { challenge?: unknown }).challenge === challenge
    );
  } catch {
    return false;
  }
}
