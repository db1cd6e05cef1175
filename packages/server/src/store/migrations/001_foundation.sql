-- Foundation schema: tenants, users, sessions, API keys, devices and their access keys, telemetry,
-- events, commands, presence and idempotency records. Timestamps are epoch milliseconds (bigint):
-- the wire speaks milliseconds and both drivers return them as plain numbers.

CREATE TABLE tenants (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created_at bigint NOT NULL
);

-- Users log in with a platform-unique username. tenant_id is NULL for platform administrators.
CREATE TABLE users (
  id text PRIMARY KEY,
  tenant_id text REFERENCES tenants(id) ON DELETE CASCADE,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  platform_admin boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL
);

-- Login sessions: only the SHA-256 of the bearer token is kept.
CREATE TABLE sessions (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  revoked_at bigint
);

-- Tenant API keys: the secret is shown once; the SHA-256 digest is the lookup key.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_at bigint NOT NULL,
  last_used_at bigint,
  revoked_at bigint
);

CREATE TABLE devices (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  metadata jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  -- presence: session_id names the live connection so a late disconnect of a taken-over session
  -- cannot mark the device offline.
  connected boolean NOT NULL DEFAULT false,
  session_id text,
  connected_node text,
  last_seen_at bigint,
  last_connected_at bigint,
  last_disconnected_at bigint,
  last_disconnect_reason text
);
CREATE INDEX devices_tenant_idx ON devices (tenant_id, id);
CREATE INDEX devices_tags_idx ON devices USING gin (tags);

CREATE TABLE device_access_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  key_hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_at bigint NOT NULL,
  last_used_at bigint,
  revoked_at bigint
);
CREATE INDEX device_access_keys_device_idx ON device_access_keys (device_id);

-- One row per value: per-key aggregates and ranges are index scans. id orders rows with equal ts for
-- stable cursors. No foreign key: the batch writer must not pay for one per row, and device deletion
-- removes the rows explicitly.
CREATE TABLE telemetry (
  id bigserial,
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  key text NOT NULL,
  ts bigint NOT NULL,
  num double precision,
  str text,
  bool boolean,
  received_at bigint NOT NULL
);
CREATE INDEX telemetry_device_ts_idx ON telemetry (device_id, ts, id);

-- Latest value per key, upserted once per key per batch.
CREATE TABLE telemetry_latest (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  key text NOT NULL,
  ts bigint NOT NULL,
  num double precision,
  str text,
  bool boolean,
  PRIMARY KEY (device_id, key)
);

CREATE TABLE device_events (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  ts bigint NOT NULL,
  type text NOT NULL,
  severity text NOT NULL,
  message text,
  data jsonb,
  received_at bigint NOT NULL
);
CREATE INDEX device_events_device_ts_idx ON device_events (device_id, ts);

CREATE TABLE commands (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  name text NOT NULL,
  params jsonb,
  status text NOT NULL CHECK (status IN ('pending', 'delivered', 'succeeded', 'failed', 'expired')),
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  delivered_at bigint,
  completed_at bigint,
  result jsonb,
  error text
);
CREATE INDEX commands_device_idx ON commands (device_id, id);
CREATE INDEX commands_open_idx ON commands (expires_at) WHERE status IN ('pending', 'delivered');

CREATE TABLE presence_events (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  at bigint NOT NULL,
  event text NOT NULL CHECK (event IN ('connected', 'disconnected')),
  reason text,
  remote_address text,
  transport text
);
CREATE INDEX presence_events_device_idx ON presence_events (device_id, at);

-- Idempotency-Key records: a retried create returns the first response; scope is the principal.
CREATE TABLE idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  status integer NOT NULL,
  body jsonb NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (scope, key)
);
