/**
 * Webhooks (docs/integrations.md): a tenant's HTTPS endpoints receive platform events, signed as
 * Standard Webhooks. An endpoint is verified (it answers a challenge) before any event flows to it;
 * each event becomes one delivery per matching endpoint, written in the transaction that hands the
 * event on, and is sent at least once: retried with jitter for about three days, then kept as a dead
 * letter that can be replayed.
 */
import type { PlatformEvent, PlatformEventType } from '@mooring/protocol';
import type { TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export type WebhookStatus = 'pending' | 'active' | 'disabled';
export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** The endpoint's own authentication, as given (secrets are never returned). */
export type WebhookAuthInput =
  | { type: 'none' }
  | { type: 'basic'; username: string; password: string }
  | {
      type: 'oauth2';
      tokenUrl: string;
      clientId: string;
      clientSecret: string;
      scope?: string;
      audience?: string;
    };

/** The endpoint's authentication as shown: without its secret. */
export type WebhookAuthView =
  | { type: 'none' }
  | { type: 'basic'; username: string }
  | { type: 'oauth2'; tokenUrl: string; clientId: string; scope: string | null; audience: string | null };

export interface Webhook {
  id: string;
  name: string;
  url: string;
  eventTypes: PlatformEventType[];
  /** Only events about devices with one of these tags; empty: every event of the types. */
  deviceTags: string[];
  auth: WebhookAuthView;
  /** A CA the endpoint's certificate chains to, instead of the public roots. */
  caPem: string | null;
  status: WebhookStatus;
  statusReason: string | null;
  verifiedAt: number | null;
  /** While a rotation overlaps: until when the previous secret signs as well. */
  previousSecretUntil: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookCreate {
  name: string;
  url: string;
  eventTypes: PlatformEventType[];
  deviceTags?: string[];
  auth?: WebhookAuthInput;
  caPem?: string;
}

export interface WebhookUpdate {
  name?: string;
  url?: string;
  eventTypes?: PlatformEventType[];
  deviceTags?: string[];
  auth?: WebhookAuthInput;
  caPem?: string | null;
  /** false disables the endpoint; true enables it again (it is verified again first). */
  enabled?: boolean;
}

export interface DeliveryAttempt {
  attempt: number;
  at: number;
  /** The HTTP status answered, null when none came (timeout, refused address, TLS failure). */
  status: number | null;
  latencyMs: number | null;
  error: string | null;
  responseExcerpt: string | null;
}

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: PlatformEventType;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  createdAt: number;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

export interface DeliveryDetail extends Delivery {
  event: PlatformEvent;
  attemptLog: DeliveryAttempt[];
}

export interface WebhookService {
  /** Creates an endpoint (pending verification) and its signing secret, shown this once. */
  create(caller: TenantCaller, input: WebhookCreate): Promise<{ webhook: Webhook; secret: string }>;
  list(caller: TenantCaller): Promise<Webhook[]>;
  get(caller: TenantCaller, webhookId: string): Promise<Webhook>;
  update(caller: TenantCaller, webhookId: string, input: WebhookUpdate): Promise<Webhook>;
  delete(caller: TenantCaller, webhookId: string): Promise<void>;
  /** Sends the challenge again as soon as the delivery worker runs. */
  verify(caller: TenantCaller, webhookId: string): Promise<Webhook>;
  /** A new signing secret; the old one signs as well for `overlapSeconds`. */
  rotateSecret(
    caller: TenantCaller,
    webhookId: string,
    overlapSeconds: number,
  ): Promise<{ webhook: Webhook; secret: string }>;
  deliveries(
    caller: TenantCaller,
    webhookId: string,
    q: { status?: DeliveryStatus; cursor?: string; limit?: number },
  ): Promise<Page<Delivery>>;
  delivery(caller: TenantCaller, webhookId: string, deliveryId: string): Promise<DeliveryDetail>;
  /** Sends one delivery again (whatever its status), as soon as the worker runs. */
  replay(caller: TenantCaller, webhookId: string, deliveryId: string): Promise<Delivery>;
  /** Sends again every delivery created in [from, to) (with `status`, only those). */
  replayRange(
    caller: TenantCaller,
    webhookId: string,
    q: { from: number; to: number; status?: DeliveryStatus },
  ): Promise<{ replayed: number }>;
}
