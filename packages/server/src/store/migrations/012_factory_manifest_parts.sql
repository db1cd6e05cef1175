-- A factory batch's manifest is kept in parts of a few hundred units, each sealed and written by its own
-- short statement, so that storing or reading the manifest of a 10,000-unit batch never holds the store
-- (or, on the embedded store, the event loop) for long. Each attempt at a batch writes its parts under a
-- manifest id of its own, and the provisioning_batches row, written last, names the manifest id and how
-- many parts it has: two attempts at the same batch at once cannot mix their parts. A batch stored
-- before this migration keeps its whole manifest in sealed_manifest and has no parts.
ALTER TABLE provisioning_batches ADD COLUMN parts integer NOT NULL DEFAULT 0;
ALTER TABLE provisioning_batches ADD COLUMN manifest_id text;
CREATE TABLE provisioning_batch_parts (
  manifest_id text NOT NULL,
  part integer NOT NULL,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  sealed_items text NOT NULL,
  PRIMARY KEY (manifest_id, part)
);
