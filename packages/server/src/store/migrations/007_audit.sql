-- The audit trail: one record per admin action and credential or device lifecycle event, hash-chained
-- per tenant so that edits, deletions and reordering are detected. tenant_id '' holds platform actions.
CREATE TABLE audit_records (
  tenant_id text NOT NULL,
  seq bigint NOT NULL,
  at bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
  source text,
  changes jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_records_at_idx ON audit_records (tenant_id, at);

-- The head of each chain, locked to append: deleting the newest records is detected against it.
CREATE TABLE audit_heads (
  tenant_id text PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL
);
