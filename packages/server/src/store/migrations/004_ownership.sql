-- Ownership transfer: a tenant releases a unit (credentials revoked, data kept or deleted) and gets a
-- one-time claim code; another tenant claims the unit with it and starts from a blank device record.

ALTER TABLE devices DROP CONSTRAINT devices_status_check;
ALTER TABLE devices ADD CONSTRAINT devices_status_check CHECK (status IN ('enabled', 'disabled', 'released'));

CREATE TABLE device_transfers (
  id text PRIMARY KEY,
  from_tenant_id text NOT NULL,
  -- the released device record (NULL once the releasing tenant deleted it with its data)
  from_device_id text,
  serial text,
  claim_code_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  claimed_at bigint,
  to_tenant_id text,
  to_device_id text
);

-- Revoked certificates must stay listed in their CA's CRL after the device record is deleted, so they
-- no longer hang off the device row.
ALTER TABLE device_certificates DROP CONSTRAINT device_certificates_device_id_fkey;
