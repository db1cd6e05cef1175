-- A factory batch's manifest is kept in parts of a few hundred units, each sealed and written by its own
-- short statement, so that storing or reading the manifest of a 10,000-unit batch never holds the store
-- (or, on the embedded store, the event loop) for long. The provisioning_batches row is written last
-- and names how many parts there are; a batch stored before this migration keeps its whole manifest in
-- sealed_manifest and has no parts.
ALTER TABLE provisioning_batches ADD COLUMN parts integer NOT NULL DEFAULT 0;
CREATE TABLE provisioning_batch_parts (
  tenant_id text NOT NULL,
  batch_id text NOT NULL,
  part integer NOT NULL,
  sealed_items text NOT NULL,
  PRIMARY KEY (tenant_id, batch_id, part),
  FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
);
