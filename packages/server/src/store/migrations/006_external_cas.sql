-- Bring-your-own manufacturer CAs: registered with proof of possession (a verification certificate
-- signed by the CA for a platform-issued registration code). Devices holding certificates from such a
-- CA are registered just in time on their first mutual-TLS connection.
ALTER TABLE certificate_authorities DROP CONSTRAINT certificate_authorities_kind_check;
ALTER TABLE certificate_authorities ADD CONSTRAINT certificate_authorities_kind_check CHECK (kind IN ('issuing', 'external'));
-- 'auto': a new device is enabled at once; 'pending': it is registered disabled until an operator enables it.
ALTER TABLE certificate_authorities ADD COLUMN registration_policy text CHECK (registration_policy IN ('auto', 'pending'));
ALTER TABLE certificate_authorities ADD COLUMN device_tags text[] NOT NULL DEFAULT '{}';
-- Node's TLS checks revocation along the whole chain, so an external CA comes with its own CRL (PEM).
ALTER TABLE certificate_authorities ADD COLUMN external_crl_pem text;
-- SHA-256 of the CA certificate (DER), colon-separated upper-case hex as Node reports it.
ALTER TABLE certificate_authorities ADD COLUMN fingerprint text;
CREATE UNIQUE INDEX certificate_authorities_fingerprint_idx ON certificate_authorities (fingerprint) WHERE fingerprint IS NOT NULL;

CREATE TABLE ca_registration_codes (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  code text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  used_at bigint,
  PRIMARY KEY (tenant_id, code)
);

-- The id a device uses in its topics and as its MQTT client id: its device id, or, for a device
-- registered from a manufacturer certificate, the certificate's common name (its serial).
ALTER TABLE device_certificates ADD COLUMN client_id text;
