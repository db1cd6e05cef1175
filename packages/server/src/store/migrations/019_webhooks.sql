-- Webhooks (docs/integrations.md): per tenant, endpoints that receive platform events signed as
-- Standard Webhooks, and one delivery row per event and endpoint with its attempts.
CREATE TABLE webhook_endpoints (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  url text NOT NULL,
  event_types text[] NOT NULL,
  device_tags text[] NOT NULL DEFAULT '{}',
  -- The endpoint's own authentication: {type: 'none'} | {type: 'basic', username, password (sealed)}
  -- | {type: 'oauth2', tokenUrl, clientId, clientSecret (sealed), scope?, audience?}.
  auth jsonb NOT NULL DEFAULT '{"type":"none"}',
  ca_pem text,
  -- Signing secrets, sealed; the previous one signs too until previous_until.
  secret text NOT NULL,
  previous_secret text,
  previous_until bigint,
  -- pending (not verified yet) | active | disabled (by an operator or a 410 answer).
  status text NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
  status_reason text,
  verify_due_at bigint,
  verify_attempts integer NOT NULL DEFAULT 0,
  verified_at bigint,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, id);
CREATE INDEX webhook_endpoints_verify_idx ON webhook_endpoints (verify_due_at) WHERE status = 'pending';

CREATE TABLE webhook_deliveries (
  id text PRIMARY KEY,
  endpoint_id text NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  event_id text NOT NULL,
  event_type text NOT NULL,
  -- The event as delivered (the signed body is its JSON).
  event jsonb NOT NULL,
  -- pending (due at next_attempt_at) | delivered | dead (out of attempts: the dead letters).
  status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL,
  created_at bigint NOT NULL,
  delivered_at bigint,
  last_status integer,
  last_error text,
  -- The node run that claimed it for an attempt (null when not claimed): a node that starts again
  -- makes its earlier run's claims due at once instead of waiting for them to lapse.
  claimed_by text,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at, id);

-- Every attempt: when, the answer's status (null when none came), latency, an excerpt of the answer.
CREATE TABLE webhook_attempts (
  delivery_id text NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  at bigint NOT NULL,
  status integer,
  latency_ms integer,
  error text,
  response_excerpt text,
  PRIMARY KEY (delivery_id, attempt)
);

-- Telemetry to forward (docs/integrations.md): the group commit writes each message's readings here,
-- only for tenants with an integration taking telemetry.batch; a leased job drains it every second
-- into one event per device and window.
CREATE TABLE telemetry_forward (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  readings jsonb NOT NULL,
  received_at bigint NOT NULL
);
