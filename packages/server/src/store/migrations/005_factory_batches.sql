-- Factory bulk provisioning: one batch per client-chosen batch id. The manifest (which may hold
-- provisioning-token secrets) is sealed with the secret key, so that a retried call returns the same
-- manifest without minting anything twice.
CREATE TABLE provisioning_batches (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  batch_id text NOT NULL,
  request_hash text NOT NULL,
  devices integer NOT NULL,
  sealed_manifest text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, batch_id)
);
