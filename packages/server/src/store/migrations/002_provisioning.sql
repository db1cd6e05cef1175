-- Device identity: provisioning tokens (PT), provisioning operations, registration-token (RT) signing
-- keys and per-device RT revocation.

-- A device's serial is unique within its tenant; provisioning finds or creates the device by it, so a
-- device provisioning again never becomes a duplicate.
ALTER TABLE devices ADD COLUMN serial text;
CREATE UNIQUE INDEX devices_tenant_serial_idx ON devices (tenant_id, serial) WHERE serial IS NOT NULL;
-- RTs issued before this instant (epoch ms) are refused: revoking a device's RTs moves it forward.
ALTER TABLE devices ADD COLUMN tokens_valid_after bigint NOT NULL DEFAULT 0;

CREATE TABLE provisioning_tokens (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  -- 'device': bound to one serial; 'batch': any serial, up to max_uses devices.
  kind text NOT NULL CHECK (kind IN ('device', 'batch')),
  serial text,
  max_uses integer NOT NULL,
  uses integer NOT NULL DEFAULT 0,
  -- 'auto': operations are approved at once (factory lines); 'manual': a technician approves.
  approval text NOT NULL CHECK (approval IN ('auto', 'manual')),
  device_tags text[] NOT NULL DEFAULT '{}',
  expires_at bigint,
  created_at bigint NOT NULL,
  revoked_at bigint,
  -- set when the token was used in a way firmware does not (bursts of parallel operations)
  suspicious_at bigint,
  suspicious_reason text
);
CREATE INDEX provisioning_tokens_tenant_idx ON provisioning_tokens (tenant_id, id);

CREATE TABLE provisioning_operations (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  token_id text NOT NULL REFERENCES provisioning_tokens(id) ON DELETE CASCADE,
  serial text NOT NULL,
  attributes jsonb NOT NULL DEFAULT '{}',
  -- SHA-256 of operation id + the code the device shows; NULL when the device has no display.
  verification_code_hash text,
  wrong_code_attempts integer NOT NULL DEFAULT 0,
  status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'superseded', 'locked')),
  -- the serial was already provisioned: a human must approve even under an auto-approval token
  reprovision boolean NOT NULL DEFAULT false,
  device_id text,
  -- the RT, encrypted at rest, kept for pickup by the polling device until pickup_until
  sealed_registration_token text,
  registration_token_expires_at bigint,
  pickup_until bigint,
  reason text,
  decided_by text,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  decided_at bigint
);
CREATE INDEX provisioning_operations_tenant_idx ON provisioning_operations (tenant_id, status, id);
CREATE INDEX provisioning_operations_token_idx ON provisioning_operations (token_id, created_at);

-- RT signing keys: the private JWK is sealed with the configured secret key. The newest active key
-- signs; retired keys still verify until every token they signed has expired.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  sealed_private_jwk text NOT NULL,
  created_at bigint NOT NULL,
  retired_at bigint
);

-- The provisioning token a device was provisioned with: its registration tokens are refreshed with it.
ALTER TABLE devices ADD COLUMN provisioning_token_id text;
