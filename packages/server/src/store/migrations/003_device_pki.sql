-- Device PKI: per-tenant issuing CAs under the platform root, device certificates signed from
-- device-generated CSRs, revocation.

CREATE TABLE certificate_authorities (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  -- 'issuing': created by Mooring under the platform root; its key is sealed with the secret key.
  kind text NOT NULL CHECK (kind IN ('issuing')),
  subject text NOT NULL,
  cert_pem text NOT NULL,
  sealed_key text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  -- monotonically increasing CRL number (RFC 5280 5.2.3)
  crl_number bigint NOT NULL DEFAULT 0,
  created_at bigint NOT NULL
);
CREATE UNIQUE INDEX certificate_authorities_issuing_idx ON certificate_authorities (tenant_id) WHERE kind = 'issuing';

CREATE TABLE device_certificates (
  -- lower-case hex serial, unique per issuing CA (random 127 bits: unique platform-wide in practice)
  serial text PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  ca_id text NOT NULL REFERENCES certificate_authorities(id),
  fingerprint text NOT NULL,
  cert_pem text NOT NULL,
  not_before bigint NOT NULL,
  not_after bigint NOT NULL,
  created_at bigint NOT NULL,
  revoked_at bigint,
  revocation_reason text
);
CREATE INDEX device_certificates_device_idx ON device_certificates (tenant_id, device_id);
CREATE INDEX device_certificates_revoked_idx ON device_certificates (ca_id) WHERE revoked_at IS NOT NULL;

-- A provisioning operation may carry the device's CSR; the certificate is issued on approval.
ALTER TABLE provisioning_operations ADD COLUMN csr_pem text;
ALTER TABLE provisioning_operations ADD COLUMN certificate_pem text;
