-- Durable facts and cluster-wide jobs.
--
-- The outbox: a fact that must not be lost (a deleted device's certificates are to be revoked) is
-- written here in the same transaction as the change it follows, and handed to its handler by the
-- outbox worker afterwards, at least once. A row is claimed by moving next_attempt_at past the time a
-- handler may take (the claim statement picks rows with FOR UPDATE SKIP LOCKED, so two nodes never
-- claim one row); a node that dies while handling it leaves the row to come due again. done_at is set
-- only once the handler has succeeded; a failure records the error and schedules the next attempt.
-- Times are the database's clock (timestamptz, now()): nodes compare them and their clocks may differ.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- attempts started (a claim counts one, even when its node died before it could report)
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  done_at timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE done_at IS NULL;
CREATE INDEX outbox_done_idx ON outbox (done_at) WHERE done_at IS NOT NULL;

-- One row per cluster job (command expiry, audit retention, outbox delivery…). A node runs a job only
-- after taking its lease: the row is read FOR UPDATE SKIP LOCKED in a short transaction, and the job is
-- taken when its period has elapsed since last_run_at and no live lease (lease_until in the future)
-- is held. The lease is renewed while the job runs and given back when it ends; a node that dies
-- holding it loses it when lease_until passes.
CREATE TABLE job_leases (
  name text PRIMARY KEY,
  holder text,
  lease_until timestamptz,
  last_run_at timestamptz,
  last_finished_at timestamptz,
  last_error text
);
