-- Access control: grants on users and API keys, custom roles, tenant security settings, API key expiry,
-- rotation and last use, TOTP second factors, login throttling, invitations and password-reset links.

-- Who held full access before roles existed keeps it: existing users and keys become owners.
ALTER TABLE users ADD COLUMN grants jsonb NOT NULL DEFAULT '[{"role":"owner"}]';
ALTER TABLE users ALTER COLUMN grants SET DEFAULT '[]';
ALTER TABLE users ADD COLUMN disabled_at bigint;
ALTER TABLE users ADD COLUMN totp_secret text;          -- sealed; set while enrolling or enrolled
ALTER TABLE users ADD COLUMN totp_enabled_at bigint;    -- set once a first code confirmed it
ALTER TABLE users ADD COLUMN totp_last_step bigint;     -- the last accepted time step: no replay
ALTER TABLE users ADD COLUMN recovery_codes jsonb NOT NULL DEFAULT '[]'; -- SHA-256 of unused codes
ALTER TABLE users ADD COLUMN last_login_at bigint;

ALTER TABLE sessions ADD COLUMN source text;
ALTER TABLE sessions ADD COLUMN user_agent text;
ALTER TABLE sessions ADD COLUMN last_seen_at bigint;
-- A session that may only enrol a second factor (the tenant requires one and the user has none).
ALTER TABLE sessions ADD COLUMN restricted boolean NOT NULL DEFAULT false;
CREATE INDEX sessions_user_idx ON sessions (user_id);

ALTER TABLE api_keys ADD COLUMN grants jsonb NOT NULL DEFAULT '[{"role":"owner"}]';
ALTER TABLE api_keys ALTER COLUMN grants SET DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN expires_at bigint;
ALTER TABLE api_keys ADD COLUMN last_used_address text;
ALTER TABLE api_keys ADD COLUMN created_by text;
-- Rotation with overlap: the previous secret keeps working until previous_expires_at.
ALTER TABLE api_keys ADD COLUMN previous_key_hash text UNIQUE;
ALTER TABLE api_keys ADD COLUMN previous_expires_at bigint;
ALTER TABLE api_keys ADD COLUMN rotated_at bigint;

CREATE TABLE roles (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  permissions text[] NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

ALTER TABLE tenants ADD COLUMN require_totp boolean NOT NULL DEFAULT false;
ALTER TABLE tenants ADD COLUMN audit_retention_days integer;

-- Failed logins per user name (known or not, so that lockout does not reveal which names exist).
CREATE TABLE login_failures (
  username text PRIMARY KEY,
  failures integer NOT NULL,
  first_failure_at bigint NOT NULL,
  locked_until bigint
);

CREATE TABLE invitations (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  grants jsonb NOT NULL,
  note text,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  accepted_at bigint,
  accepted_user_id text,
  revoked_at bigint
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, id);

CREATE TABLE password_resets (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  used_at bigint
);

-- Audit retention removes the oldest records; the chain then starts from this checkpoint.
ALTER TABLE audit_heads ADD COLUMN floor_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN floor_hash text;
