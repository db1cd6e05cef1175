-- Bulk operations that run as jobs (POST /v1/devices/bulk with revoke or setDesiredConfig): the job,
-- and the devices the filter matched when it was requested (a snapshot: the job acts on exactly what
-- the confirmation counted). A worker under a lease works each job through in chunks ordered by device
-- id, each chunk one transaction that also moves `cursor` on and deletes the chunk's snapshot rows, so
-- a job resumes after a restart where its last committed chunk ended.
CREATE TABLE device_bulk_jobs (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  action text NOT NULL,
  -- The action's parameters (the merge patch) and the filter as requested.
  params jsonb NOT NULL DEFAULT '{}',
  filter jsonb NOT NULL DEFAULT '{}',
  created_by text NOT NULL,
  status text NOT NULL DEFAULT 'queued',
  matched integer NOT NULL,
  processed integer NOT NULL DEFAULT 0,
  changed integer NOT NULL DEFAULT 0,
  skipped integer NOT NULL DEFAULT 0,
  skipped_devices jsonb NOT NULL DEFAULT '[]',
  -- The last device id of the last committed chunk.
  cursor text NOT NULL DEFAULT '',
  created_at bigint NOT NULL,
  started_at bigint,
  finished_at bigint,
  error text
);
CREATE INDEX device_bulk_jobs_open_idx ON device_bulk_jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX device_bulk_jobs_tenant_idx ON device_bulk_jobs (tenant_id, created_at);

CREATE TABLE device_bulk_job_devices (
  job_id text NOT NULL REFERENCES device_bulk_jobs(id) ON DELETE CASCADE,
  device_id text NOT NULL,
  PRIMARY KEY (job_id, device_id)
);

-- When a device's registration tokens were revoked (by an operator, one device or in bulk) since it was
-- last provisioned: null while the tokens it holds are good. Read by the bulk revocation's count.
ALTER TABLE devices ADD COLUMN tokens_revoked_at bigint;
