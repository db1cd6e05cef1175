-- The configuration twin (docs/config.md): per device a desired document (operators) and a reported
-- one (the device), each with a version that grows by one per change and per top-level member the
-- version, time and actor of its last change. acked_version is the desired version the device last
-- said it applied (it only moves forward); resync asks for the whole desired document to be pushed
-- (the device said it holds nothing usable). A row is made at the first change.
CREATE TABLE device_config (
  device_id text PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  desired jsonb NOT NULL DEFAULT '{}',
  desired_version bigint NOT NULL DEFAULT 0,
  desired_meta jsonb NOT NULL DEFAULT '{}',
  desired_at bigint,
  reported jsonb NOT NULL DEFAULT '{}',
  reported_version bigint NOT NULL DEFAULT 0,
  reported_meta jsonb NOT NULL DEFAULT '{}',
  reported_at bigint,
  acked_version bigint NOT NULL DEFAULT 0,
  acked_at bigint,
  resync boolean NOT NULL DEFAULT false,
  CHECK (acked_version <= desired_version)
);
CREATE INDEX device_config_tenant_idx ON device_config (tenant_id, device_id);

-- Every change of either document: the patch as sent, the document before and after, and who made
-- it. The desired snapshots are also what a delta since a device's acknowledged version is computed
-- from.
CREATE TABLE device_config_history (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  side text NOT NULL CHECK (side IN ('desired', 'reported')),
  version bigint NOT NULL,
  tenant_id text NOT NULL,
  patch jsonb NOT NULL,
  before jsonb NOT NULL,
  after jsonb NOT NULL,
  actor text NOT NULL,
  at bigint NOT NULL,
  PRIMARY KEY (device_id, side, version)
);
-- Newest first, both sides together: the history a page reads.
CREATE INDEX device_config_history_seq_idx ON device_config_history (device_id, seq);

-- JSON Schemas for desired documents, each for the devices with one tag.
CREATE TABLE config_schemas (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  tag text NOT NULL,
  schema jsonb NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, name)
);
