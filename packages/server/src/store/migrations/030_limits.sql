-- Per-tenant and per-device values of the limits that may be overridden (platform/limits/catalogue.ts
-- `overridableAt`): a row with no device is the tenant's override, one with a device that device's.
CREATE TABLE limit_overrides (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  device_id text REFERENCES devices(id) ON DELETE CASCADE,
  limit_name text NOT NULL,
  value bigint NOT NULL CHECK (value >= 1),
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX limit_overrides_key ON limit_overrides (tenant_id, (coalesce(device_id, '')), limit_name);

-- Refusals by a limit (GET /v1/limit-events, and kind limit_exceeded in GET /v1/fleet/problems). Kept
-- apart from device_refusals because a limit event often has no device (an API key, a login session)
-- and carries numbers (configured, observed) that a refusal does not. Bounded like the refusals: one
-- row per tenant, limit and subject per window, the others counted in `suppressed`.
CREATE TABLE limit_events (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text REFERENCES devices(id) ON DELETE CASCADE,
  at bigint NOT NULL,
  limit_name text NOT NULL,
  scope text NOT NULL,
  subject text NOT NULL,
  configured bigint NOT NULL,
  observed bigint NOT NULL,
  suppressed integer NOT NULL DEFAULT 0
);
CREATE INDEX limit_events_tenant_idx ON limit_events (tenant_id, at);
CREATE INDEX limit_events_device_idx ON limit_events (tenant_id, device_id, at) WHERE device_id IS NOT NULL;
CREATE INDEX limit_events_at_idx ON limit_events (at);
